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

/// Registers a public client through `POST /register`, as anyone on the internet can.
func registerClient(_ client: some TestClientProtocol, redirectURI: String, name: String = "Self-registered") async throws -> String {
    let body = #"{"redirect_uris":["\#(redirectURI)"],"token_endpoint_auth_method":"none","client_name":"\#(name)"}"#
    let response = try await client.execute(
        uri: "/register", method: .post, headers: [.contentType: "application/json"],
        body: ByteBuffer(string: body))
    guard response.status == .created, let id = try json(response)["client_id"] as? String else {
        throw TestFailure("registration failed: \(response.status) \(response.text)")
    }
    return id
}

@Suite("RFC 9700 §4.11.2 over HTTP: no open redirect through self-registered clients")
struct OpenRedirectHTTPTests {
    @Test("A self-registered client's early error is shown on Pixy's page, naming the target host, never redirected")
    func dynamicClientErrorIsAPage() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let id = try await registerClient(client, redirectURI: "https://evil.example/landing")
            for extra in [[("response_type", "token")], [("prompt", "none")], [("code_challenge_method", "plain")]] {
                var (query, _) = TestHarness.authorizeQuery(clientID: ClientID(id), redirectURI: "https://evil.example/landing")
                for (name, value) in extra {
                    var pairs = FormParameters(urlEncoded: query)!.pairs.map { ($0.name, $0.value) }
                    pairs.removeAll { $0.0 == name }
                    pairs.append((name, value))
                    query = FormParameters.encode(pairs)
                }
                let response = try await client.execute(uri: "/authorize?\(query)", method: .get)
                #expect(response.status == .badRequest, "\(extra)")
                #expect(response.headers[.location] == nil, "no redirect for \(extra)")
                #expect(response.text.contains("Continue to evil.example"), "the interstitial names the host and needs a click")
            }
        }
    }

    @Test("An operator-registered client still gets its error redirected")
    func operatorClientErrorIsRedirected() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery(extra: [("prompt", "none")])
            let response = try await client.execute(uri: "/authorize?\(query)", method: .get)
            #expect(response.status == .found)
            #expect(response.locationParameters["error"] == "login_required")
        }
    }
}

@Suite("Unauthenticated state stays bounded")
struct UnauthenticatedStateTests {
    @Test("A cookie-less /authorize gets a session that lives only as long as the interaction (600 s), not 8 h")
    func preLoginSessionIsShort() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let response = try await client.execute(uri: "/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
            let cookie = try #require(response.headers[.setCookie])
            #expect(cookie.contains("Max-Age=600;"), "\(cookie)")
            harness.clock.advance(by: .seconds(601))
            let login = try await client.execute(
                uri: response.headers[.location]!, method: .get,
                headers: [.cookie: String(cookie.prefix { $0 != ";" })])
            #expect(login.status == .badRequest, "the session and its request are gone")
        }
    }

    @Test("One session holds at most 16 waiting requests; the 17th starts a fresh session")
    func pendingRequestsPerSessionAreCapped() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            _ = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery().query)")
            let first = try #require(browser.cookie)
            for _ in 2...16 { _ = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery().query)") }
            #expect(browser.cookie == first)
            _ = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery().query)")
            #expect(browser.cookie != first)
        }
    }

    @Test("/authorize is rate-limited per source: past the burst, 429 with Retry-After")
    func authorizeIsRateLimited() async throws {
        var harness = try await TestHarness.make()
        harness.configuration.authorizationBurst = 3
        harness.configuration.authorizationsPerMinute = 1
        try await harness.application().test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<5 {
                let response = try await client.execute(uri: "/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
                statuses.append(response.status)
                if response.status == .tooManyRequests { #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1) }
            }
            #expect(statuses == [.seeOther, .seeOther, .seeOther, .tooManyRequests, .tooManyRequests])
        }
    }

    @Test("An over-long query is refused on a page, and nothing is stored")
    func longQueryRefused() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery(extra: [("x", String(repeating: "a", count: 9000))])
            let response = try await client.execute(uri: "/authorize?\(query)", method: .get)
            #expect(response.status == .badRequest)
            #expect(response.headers[.setCookie] == nil)
        }
    }

    @Test("Self-registered client names with bidi or zero-width characters are refused", arguments: ["Claude\u{202E}", "Chat\u{200B}GPT"])
    func invisibleCharactersInNames(name: String) async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let body = try String(
                decoding: JSONSerialization.data(withJSONObject: ["redirect_uris": ["https://a.example/cb"], "client_name": name]),
                as: UTF8.self)
            let response = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            #expect(try json(response)["error"] as? String == "invalid_client_metadata")
        }
    }
}

@Suite("Pages: headers, CSRF, redirect host, logout, cookie")
struct PageHardeningTests {
    @Test(
        "Page security headers are on every spelling of the page paths and on every HTML response",
        arguments: ["/consent/", "//consent", "/login/", "/authorize/", "/logout", "/consent?tx=nothing"])
    func headersOnEveryPage(path: String) async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let response = try await client.execute(uri: path, method: .get)
            #expect(response.headers[xFrameOptions] == "DENY", "\(path): \(response.status)")
            #expect(response.headers[.cacheControl] == "no-store")
            #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
        }
    }

    @Test("A consent POST with a missing or foreign CSRF token is refused with 403")
    func consentCSRFIs403() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let page = try await browser.openConsentPage(client, query: TestHarness.authorizeQuery().query)
            for form in [[("decision", "approve")], [("decision", "approve"), ("csrf_token", "someone-elses")]] {
                let response = try await browser.post(client, try page.formAction(), form: form)
                #expect(response.status == .forbidden)
                #expect(response.headers[.location] == nil)
            }
            let approved = try await browser.post(
                client, try page.formAction(), form: [("csrf_token", try page.csrfToken()), ("decision", "approve")])
            #expect(approved.locationParameters["code"] != nil, "the real form still works")
        }
    }

    @Test("RFC 8252 §7.1: a private-use redirect URI is shown as an app on this device, not as the host it seems to name")
    func privateUseSchemeOnConsent() async throws {
        let harness = try await TestHarness.make()
        try await harness.store.save(
            Client(
                clientID: "native-app", clientName: "Claude", redirectURIs: ["com.evil.app://claude.ai/cb"],
                createdAt: harness.clock.now()))
        try await harness.application().test(.router) { client in
            let page = try await Browser().openConsentPage(
                client, query: TestHarness.authorizeQuery(clientID: "native-app", redirectURI: "com.evil.app://claude.ai/cb").query)
            #expect(page.text.contains("an app on this device (com.evil.app)"))
            #expect(!page.text.contains("<code>claude.ai</code>"))
        }
    }

    @Test("The login page warns about a self-registered client, as the consent page does")
    func loginPageWarns() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let id = try await registerClient(client, redirectURI: "https://app.example.net/cb")
            let page = try await Browser().openLoginPage(
                client, query: TestHarness.authorizeQuery(clientID: ClientID(id), redirectURI: "https://app.example.net/cb").query)
            #expect(page.text.contains("registered itself"))
        }
    }

    @Test("Logout: a POST with the CSRF token ends the session; the next /authorize asks for the password again")
    func logout() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let done = try await browser.authorize(
                client, query: TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)
            #expect(done.locationParameters["code"] != nil)
            let again = try await browser.get(
                client, "/authorize?\(TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)")
            #expect(again.status == .found, "signed in: straight back to the client")
            let page = try await browser.get(client, "/logout")
            let forged = try await browser.post(client, "/logout", form: [("csrf_token", "forged")])
            #expect(forged.status == .forbidden)
            let out = try await browser.post(client, "/logout", form: [("csrf_token", try page.csrfToken())])
            #expect(out.status == .ok)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            let after = try await browser.get(
                client, "/authorize?\(TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)")
            #expect(after.headers[.location]?.hasPrefix("/login") == true)
        }
    }

    @Test("RFC 6265bis §4.1.3: over https the session cookie is __Host-pixy_session (Secure, Path=/); below an issuer path, __Secure-")
    func prefixedCookie() async throws {
        let harness = try await TestHarness.make(issuer: "https://auth.example.com")
        try await harness.application().test(.router) { client in
            let response = try await client.execute(uri: "/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
            let cookie = try #require(response.headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-pixy_session="))
            #expect(cookie.contains("Path=/;") && cookie.contains("Secure") && !cookie.contains("Domain"))
        }
        let tenant = try await TestHarness.make(issuer: "https://auth.example.com/tenant")
        try await tenant.application().test(.router) { client in
            let response = try await client.execute(uri: "/tenant/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
            let cookie = try #require(response.headers[.setCookie])
            #expect(cookie.hasPrefix("__Secure-pixy_session=") && cookie.contains("Path=/tenant;") && cookie.contains("Secure"))
        }
    }
}

@Suite("Login limits over HTTP")
struct LoginLimitHTTPTests {
    @Test("30 parallel wrong passwords for one account: at most 5 are checked, the rest are throttled or refused as busy")
    func parallelGuesses() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            var pages: [(Browser, TestResponse)] = []
            for _ in 0..<30 {
                let browser = Browser()
                pages.append((browser, try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)))
            }
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for (browser, page) in pages {
                    group.addTask {
                        let response = try await browser.post(
                            client, try page.formAction(),
                            form: [
                                ("username", "ALICE"), ("password", "wrong password"), ("csrf_token", try page.csrfToken()),
                            ])
                        return response.headers[.location] ?? ""
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            var checked = outcomes.filter { $0.contains("error=invalid") }.count
            #expect(checked <= 5, "\(checked) guesses reached the password check")
            #expect(outcomes.allSatisfy { $0.contains("error=invalid") || $0.contains("error=throttled") || $0.contains("error=busy") })
            // Guesses refused as busy were not counted; keep guessing one at a time until the
            // account locks: never more than 5 wrong passwords are checked in all.
            var locked = false
            for _ in 0..<10 where !locked {
                let browser = Browser()
                let page = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
                let location = try await browser.logIn(client, on: page, password: "wrong again").headers[.location] ?? ""
                if location.contains("error=invalid") { checked += 1 } else { locked = location.contains("error=throttled") }
            }
            #expect(locked && checked == 5, "locked after exactly 5 checked guesses (\(checked))")
            let browser = Browser()
            let page = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            let right = try await browser.logIn(client, on: page)
            #expect(right.headers[.location]?.contains("error=throttled") == true, "the account is locked, whatever the spelling")
        }
    }

    @Test("NUL in a username is refused before any lookup: `alice%00x` neither signs in nor gets its own counter")
    func nulUsername() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let page = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            let body =
                "username=alice%00x&password=\(FormParameters.percentEncode(TestHarness.password))&csrf_token=\(try page.csrfToken())"
            var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            headers[.cookie] = "pixy_session=\(browser.cookie!)"
            let response = try await client.execute(
                uri: try page.formAction(), method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(response.headers[.location]?.contains("error=expired") == true, "the form is refused as malformed")
            #expect(response.headers[.location]?.contains("code=") != true)
        }
    }
}

@Suite("Per-source limits: IPv6 by /64, the client behind trusted proxies")
struct SourceAddressTests {
    @Test("IPv6 peers are counted by their /64; IPv4 and IPv4-mapped peers by their address")
    func limitKeys() {
        #expect(SourceAddress.limitKey("2001:db8:1:2:aaaa::1") == SourceAddress.limitKey("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(SourceAddress.limitKey("2001:db8:1:2::1") != SourceAddress.limitKey("2001:db8:1:3::1"))
        #expect(SourceAddress.limitKey("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(SourceAddress.limitKey("192.0.2.7") == "192.0.2.7")
        #expect(SourceAddress.limitKey(nil) == "unknown")
    }

    @Test(
        "CIDR ranges match IPv4, IPv6 and IPv4-mapped addresses",
        arguments: [
            ("10.0.0.0/8", "10.200.1.1", true), ("10.0.0.0/8", "11.0.0.1", false), ("10.0.0.0/8", "::ffff:10.1.2.3", true),
            ("fd00::/8", "fd12::1", true), ("fd00::/8", "fe80::1", false), ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("192.168.1.0/23", "192.168.0.255", true), ("192.168.1.0/23", "192.168.2.1", false),
        ])
    func ranges(range: String, address: String, contained: Bool) throws {
        #expect(try #require(AddressRange(range)).contains(address) == contained)
    }

    @Test("Malformed ranges are refused", arguments: ["10.0.0.0/33", "fd00::/129", "nonsense", "10.0.0.0/x", ""])
    func malformedRanges(range: String) {
        #expect(AddressRange(range) == nil)
    }

    @Test("Behind trusted proxies the client is the rightmost untrusted X-Forwarded-For hop; an untrusted peer's header is ignored")
    func forwardedFor() throws {
        let trusted = [try #require(AddressRange("10.0.0.0/8"))]
        #expect(
            TrustedProxyMiddleware.client(peer: "10.0.0.5", forwardedFor: ["1.2.3.4, 203.0.113.9, 10.0.0.7"], trusted: trusted)
                == "203.0.113.9")
        #expect(TrustedProxyMiddleware.client(peer: "198.51.100.1", forwardedFor: ["1.2.3.4"], trusted: trusted) == "198.51.100.1")
        #expect(TrustedProxyMiddleware.client(peer: "10.0.0.5", forwardedFor: [], trusted: trusted) == "10.0.0.5")
        #expect(TrustedProxyMiddleware.client(peer: "10.0.0.5", forwardedFor: ["evil, 203.0.113.9"], trusted: trusted) == "203.0.113.9")
        #expect(TrustedProxyMiddleware.client(peer: "10.0.0.5", forwardedFor: ["203.0.113.9, garbage"], trusted: trusted) == "10.0.0.5")
    }

    @Test("Live: with the peer trusted, registration limits count each forwarded client; without, the header changes nothing")
    func limitsSeeForwardedClient() async throws {
        for trusts in [true, false] {
            var harness = try await TestHarness.make()
            harness.configuration.registrationBurst = 1
            harness.configuration.registrationsPerMinute = 0.001
            if trusts { harness.configuration.trustedProxies = ["127.0.0.1"] }
            try await harness.application().test(.live) { client in
                func register(_ index: Int, from address: String) async throws -> HTTPResponse.Status {
                    let body = #"{"redirect_uris":["https://app-\#(index).example/cb"]}"#
                    return try await client.execute(
                        uri: "/register", method: .post,
                        headers: [.contentType: "application/json", .init("X-Forwarded-For")!: address],
                        body: ByteBuffer(string: body)
                    ).status
                }
                let first = try await register(1, from: "203.0.113.1")
                let second = try await register(2, from: "203.0.113.1")
                let other = try await register(3, from: "203.0.113.2")
                #expect(first == .created)
                #expect(second == .tooManyRequests)
                #expect(other == (trusts ? .created : .tooManyRequests))
            }
        }
    }
}

@Suite("Session lifetime")
struct SessionLifetimeTests {
    @Test("--session-lifetime sets how long a signed-in browser stays signed in (cookie and store)")
    func configuredLifetime() async throws {
        var harness = try await TestHarness.make()
        harness.configuration.sessionLifetime = .seconds(120)
        let clock = harness.clock
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let page = try await browser.openLoginPage(
                client, query: TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)
            let signedIn = try await browser.logIn(client, on: page)
            #expect(signedIn.headers[.setCookie]?.contains("Max-Age=120;") == true)
            clock.advance(by: .seconds(121))
            let later = try await browser.get(
                client, "/authorize?\(TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)")
            #expect(later.headers[.location]?.hasPrefix("/login") == true, "the session ended")
        }
    }
}
