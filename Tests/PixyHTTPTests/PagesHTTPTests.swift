import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
@testable import PixyHTTP
import PixyModel
import PixyServer
import PixyTesting
import Testing

/// WCAG 2.x relative luminance and contrast ratio of `#rrggbb` colours (the AA rule of
/// docs/spec-coverage.md §8: 4.5:1 for text).
enum WCAG {
    static func luminance(_ hex: String) -> Double {
        let digits = hex.dropFirst()
        let value = Int(digits, radix: 16)!
        let channels = [(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF].map { Double($0) / 255 }
        let linear = channels.map { $0 <= 0.04045 ? $0 / 12.92 : pow(($0 + 0.055) / 1.055, 2.4) }
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    }

    static func contrast(_ first: String, _ second: String) -> Double {
        let (a, b) = (luminance(first), luminance(second))
        return (max(a, b) + 0.05) / (min(a, b) + 0.05)
    }

    /// The `--name:#rrggbb` custom properties of the first `:root { … }` block in `css`.
    static func customProperties(_ css: Substring) throws -> [String: String] {
        let open = try #require(css.range(of: ":root {"))
        let close = try #require(css[open.upperBound...].firstIndex(of: "}"))
        var properties: [String: String] = [:]
        for declaration in css[open.upperBound..<close].split(separator: ";") {
            let parts = declaration.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].hasPrefix("--") else { continue }
            properties[String(parts[0].dropFirst(2))] = parts[1]
        }
        return properties
    }

    /// The custom properties each `property:var(--name)` declaration in `css` reads.
    static func variables(readBy property: String, in css: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: #"(?<![\w-])"# + property + #":\s*var\(--([\w-]+)\)"#)
        return Set(
            regex.matches(in: css, range: NSRange(css.startIndex..., in: css)).compactMap {
                Range($0.range(at: 1), in: css).map { String(css[$0]) }
            })
    }
}

@Suite("WCAG 2.x AA: every text colour of the pages has contrast 4.5:1 or more in both colour schemes")
struct PageContrastTests {
    /// Text colour on the background it is drawn on, as the stylesheet uses them: body text in
    /// the card and secondary buttons, text outside the card, muted text, the primary button,
    /// links and the "new" mark, the error box.
    static let pairs = [
        ("fg", "card"), ("fg", "bg"), ("muted", "card"), ("muted", "bg"), ("on-accent", "accent"),
        ("link", "card"), ("link", "bg"), ("bad", "bad-bg"),
    ]

    @Test("Each text/background pair of the light and the dark scheme has contrast >= 4.5")
    func everyPairMeetsAA() throws {
        let css = Templates.style
        let light = try WCAG.customProperties(css[...])
        let darkStart = try #require(css.range(of: "prefers-color-scheme: dark"))
        let dark = try WCAG.customProperties(css[darkStart.upperBound...])
        for (scheme, colours) in [("light", light), ("dark", dark)] {
            for (text, background) in Self.pairs {
                let foreground = try #require(colours[text], "\(scheme) --\(text)")
                let back = try #require(colours[background], "\(scheme) --\(background)")
                let ratio = WCAG.contrast(foreground, back)
                #expect(ratio >= 4.5, "\(scheme): --\(text) \(foreground) on --\(background) \(back) is \(ratio):1")
            }
        }
        // The old dark primary button (white on #6ea8fe) is what this guards against.
        #expect(WCAG.contrast("#ffffff", "#6ea8fe") < 4.5)
    }

    @Test("Every colour and background the stylesheet reads is one of the checked pairs")
    func noUncheckedColour() throws {
        let texts = Set(Self.pairs.map(\.0)), backgrounds = Set(Self.pairs.map(\.1))
        #expect(try WCAG.variables(readBy: "color", in: Templates.style).isSubset(of: texts))
        #expect(try WCAG.variables(readBy: "background", in: Templates.style).isSubset(of: backgrounds))
    }

    @Test("Long names, ids and URLs wrap anywhere inside the card (no sideways scrolling on a phone)")
    func longWordsWrap() {
        let main = Templates.style.split(separator: "\n").first { $0.contains("main {") } ?? ""
        #expect(main.contains("overflow-wrap: anywhere"))
    }
}

@Suite("The operator's brand on every page, apart from the client's name; the CSP admits only its logo")
struct BrandingHTTPTests {
    static func branded(logo: String? = "https://cdn.example.com/brand/logo.svg") async throws -> TestHarness {
        var harness = try await TestHarness.make()
        harness.configuration.brandName = "Acme <Notes>"
        harness.configuration.brandLogo = logo
        return harness
    }

    @Test("Login, consent, error, sign-out and home pages show the brand name and logo in their header")
    func brandOnEveryPage() async throws {
        let harness = try await Self.branded()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let login = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            let consent = try await browser.logIn(client, on: login)
            let consentPage = try await browser.get(client, try #require(consent.headers[.location]))
            let error = try await client.execute(uri: "/authorize?client_id=nobody", method: .get)
            let signOut = try await browser.get(client, "/logout")
            let home = try await client.execute(uri: "/", method: .get)
            let header =
                #"<header class="brand"><img src="https://cdn.example.com/brand/logo.svg" alt=""><span>Acme &lt;Notes&gt;</span></header>"#
            for (name, page) in [("login", login), ("consent", consentPage), ("error", error), ("sign-out", signOut), ("home", home)] {
                #expect(page.text.contains(header), "\(name)")
            }
            #expect(signOut.text.contains("Sign out of Acme &lt;Notes&gt;?"))
        }
    }

    @Test("With an https logo the CSP adds img-src for its origin only, and still denies framing, scripts and everything else")
    func cspAdmitsOnlyTheLogo() async throws {
        let harness = try await Self.branded()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let login = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            let csp = try #require(login.headers[.contentSecurityPolicy])
            #expect(
                csp
                    == "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; img-src https://cdn.example.com"
            )
            #expect(!csp.contains("script-src") && !csp.contains("'self'") && !csp.contains("*"))
            #expect(login.headers[.xFrameOptions] == "DENY")
        }
    }

    @Test("Without a logo the page CSP stays as strict as before: no img-src at all")
    func noLogoNoImageSource() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let page = try await Browser().openLoginPage(client, query: TestHarness.authorizeQuery().query)
            #expect(
                page.headers[.contentSecurityPolicy]
                    == "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
            #expect(page.text.contains(#"<header class="brand"><span>Pixy</span></header>"#))
            #expect(!page.text.contains("<img"))
        }
    }

    @Test("A data: logo needs img-src data: and nothing more")
    func dataLogoPolicy() {
        let branding = PageBranding(logo: "data:image/png;base64,iVBORw0KGgo=")
        #expect(branding.contentSecurityPolicy.hasSuffix("; img-src data:"))
        #expect(branding.contentSecurityPolicy.contains("frame-ancestors 'none'"))
    }

    @Test("Only https URLs and base64 PNG or SVG data: URIs are acceptable logos")
    func logoValidation() {
        for good in [
            "https://cdn.example.com/logo.png", "https://cdn.example.com:8443/a/b.svg?v=2",
            "data:image/png;base64,iVBORw0KGgo=", "data:image/svg+xml;base64,PHN2Zy8+",
        ] {
            #expect(PageBranding.isAcceptableLogo(good), "\(good)")
        }
        for bad in [
            "http://cdn.example.com/logo.png", "https://user:pw@cdn.example.com/logo.png", "javascript:alert(1)",
            "data:image/gif;base64,R0lGODlh", "data:image/svg+xml,<svg onload=alert(1)>", "data:text/html;base64,PGI+",
            "data:image/png;base64,", "https://cdn.example.com/a;script-src *", "https://*.example.com/logo.png",
            "//cdn.example.com/logo.png", "data:image/png;base64," + String(repeating: "A", count: 70_000),
        ] {
            #expect(!PageBranding.isAcceptableLogo(bad), "\(bad)")
        }
    }

    @Test("A scope description naming a scope outside --scopes is refused with a one-line error")
    func scopeDescriptionMustNameASupportedScope() throws {
        var configuration = Configuration()
        configuration.scopeDescriptions = ["read": "Read your notes", "delete": "Delete everything"]
        let error = try #require(throws: Configuration.Invalid.self) { try configuration.validate() }
        #expect(error.description.contains("delete") && !error.description.contains("\n"))
        configuration.scopeDescriptions = ["read": "Read your notes"]
        try configuration.validate()
        configuration.brandLogo = "http://insecure.example.com/logo.png"
        #expect(throws: Configuration.Invalid.self) { try configuration.validate() }
        configuration.brandLogo = nil
        configuration.brandName = ""
        #expect(throws: Configuration.Invalid.self) { try configuration.validate() }
    }
}

@Suite("The consent page: scope descriptions, step-up marks for public clients, and \"Not you?\"")
struct ConsentPageHTTPTests {
    @Test("The operator's description appears beside its scope token, HTML-escaped")
    func scopeDescriptionsShown() async throws {
        var harness = try await TestHarness.make()
        harness.configuration.scopeDescriptions = ["read": "Read your <notes>"]
        try await harness.application().test(.router) { client in
            let page = try await Browser().openConsentPage(client, query: TestHarness.authorizeQuery(scope: "read write").query)
            #expect(page.text.contains("<li><code>read</code>: Read your &lt;notes&gt;</li>"))
            #expect(page.text.contains("<li><code>write</code></li>"))
        }
    }

    @Test("A public client with a live grant: the consent page is shown and marks only the scopes beyond the grant")
    func publicClientStepUpMarksNewScopes() async throws {
        let harness = try await TestHarness.make()
        let now = harness.clock.now()
        try await harness.store.createGrant(
            Grant(
                id: "grant-1", clientID: TestHarness.publicClientID, subject: harness.user.id, scope: Scope(validatedTokens: ["read"]),
                resource: nil, authTime: now, createdAt: now, expiresAt: now.addingTimeInterval(86400),
                idleExpiresAt: now.addingTimeInterval(86400), currentTokenHash: "hash"))
        try await harness.application().test(.router) { client in
            let page = try await Browser().openConsentPage(client, query: TestHarness.authorizeQuery(scope: "read write").query)
            #expect(page.status == .ok)
            #expect(page.text.contains(#"<li><code>read</code></li>"#))
            #expect(page.text.contains(#"<li><code>write</code> <strong class="new">new</strong></li>"#))
        }
    }

    @Test("The consent page keeps exactly one form; \"Not you?\" is a link to the CSRF-protected sign-out page")
    func consentPageHasOneForm() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let page = try await Browser().openConsentPage(client, query: TestHarness.authorizeQuery().query)
            #expect(page.text.components(separatedBy: "<form").count == 2)
            #expect(try page.match(#"<a href="([^"]+)">Not you\? Sign out</a>"#).hasPrefix("/logout?tx="))
        }
    }

    @Test("Not you? signs out through the POST form, then returns to sign-in for the same request in a new session")
    func notYouSignsOutAndReturnsToLogin() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let consent = try await browser.openConsentPage(client, query: TestHarness.authorizeQuery().query)
            let link = try consent.match(#"<a href="([^"]+)">Not you\?"#)
            let signedInCookie = try #require(browser.cookie)
            let signOut = try await browser.get(client, link)
            #expect(signOut.text.contains("Sign out of Pixy?") && signOut.text.contains("Then sign in as yourself"))
            let action = try signOut.formAction()
            #expect(action == link, "the form keeps the request")

            // Without the CSRF token nothing happens.
            let forged = try await browser.post(client, action, form: [])
            #expect(forged.status == .forbidden)

            let after = try await browser.post(client, action, form: [("csrf_token", try signOut.csrfToken())])
            #expect(after.status == .seeOther)
            let location = try #require(after.headers[.location])
            #expect(location == link.replacingOccurrences(of: "/logout", with: "/login"))
            #expect(browser.cookie != signedInCookie, "a fresh session")

            // The old session is gone: its cookie no longer reaches the consent page.
            let stale = Browser()
            stale.cookie = signedInCookie
            let replay = try await stale.get(client, link.replacingOccurrences(of: "/logout", with: "/consent"))
            #expect(replay.status == .badRequest)

            // Signing in again continues the same request to its consent page.
            let login = try await browser.get(client, location)
            #expect(login.status == .ok && login.text.contains(#"name="username""#))
            let again = try await browser.logIn(client, on: login)
            #expect(again.headers[.location] == link.replacingOccurrences(of: "/logout", with: "/consent"))
        }
    }
}

@Suite("GET / names the server and links its metadata; GET /favicon.ico answers an icon")
struct HomeAndFaviconHTTPTests {
    @Test("GET / shows the brand, the issuer and links to the RFC 8414 metadata and the JWKS")
    func homePage() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let home = try await client.execute(uri: "/", method: .get)
            #expect(home.status == .ok)
            #expect(home.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(home.text.contains("Pixy") && home.text.contains("<code>\(TestHarness.defaultIssuer)</code>"))
            #expect(home.text.contains(#"<a href="/.well-known/oauth-authorization-server">"#))
            #expect(home.text.contains(#"<a href="/jwks.json">"#))
            #expect(home.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
        }
    }

    @Test("Below an issuer with a path, the home page is at that path and links the path-inserted metadata")
    func homePageBelowIssuerPath() async throws {
        let harness = try await TestHarness.make(issuer: "http://127.0.0.1:8080/tenant")
        try await harness.application().test(.router) { client in
            let home = try await client.execute(uri: "/tenant", method: .get)
            #expect(home.status == .ok)
            #expect(home.text.contains(#"<a href="/.well-known/oauth-authorization-server/tenant">"#))
            #expect(home.text.contains(#"<a href="/tenant/jwks.json">"#))
        }
    }

    @Test("GET /favicon.ico is a static SVG icon with a year's cache lifetime and no script")
    func favicon() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let icon = try await client.execute(uri: "/favicon.ico", method: .get)
            #expect(icon.status == .ok)
            #expect(icon.headers[.contentType] == "image/svg+xml")
            #expect(icon.headers[.cacheControl] == "public, max-age=31536000")
            #expect(icon.text.hasPrefix("<svg") && !icon.text.contains("script"))
            #expect(icon.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'") == true)
        }
    }
}
