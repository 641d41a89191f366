import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
import PixyModel
import PixyServer
import PixyTesting
import Testing

let pragma = HTTPField.Name("Pragma")!
let xFrameOptions = HTTPField.Name("X-Frame-Options")!
let referrerPolicy = HTTPField.Name("Referrer-Policy")!

@Suite("docs/security.md §1-§2 over HTTP")
struct AuthorizeHTTPTests {
    @Test("§1.3: an unknown client or unregistered redirect gets an error page: 400, no Location")
    func errorPageNoRedirect() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            for query in [
                TestHarness.authorizeQuery(clientID: "nobody").query,
                TestHarness.authorizeQuery(redirectURI: "https://evil.example/cb").query,
                TestHarness.authorizeQuery(redirectURI: "https://evil.example/cb", extra: [("response_type", "token")]).query,
                "client_id=public-client&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            ] {
                let response = try await client.execute(uri: "/authorize?\(query)", method: .get)
                #expect(response.status == .badRequest)
                #expect(response.headers[.location] == nil)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(!response.text.contains("evil.example"), "the page does not link to the unvalidated URI")
            }
        }
    }

    @Test(
        "§2 (probe N3/N4): no challenge, or plain, is refused by redirect with state and iss, and no code",
        arguments: [
            [("code_challenge_method", "plain")], [("code_challenge", ""), ("code_challenge_method", "")], [("code_challenge_method", "")],
        ])
    func pkceRefusedByRedirect(overrides: [(String, String)]) async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery()
            var parameters = FormParameters(urlEncoded: query)!.pairs.map { ($0.name, $0.value) }
            for (name, value) in overrides {
                parameters.removeAll { $0.0 == name }
                parameters.append((name, value))
            }
            let response = try await client.execute(uri: "/authorize?\(FormParameters.encode(parameters))", method: .get)
            #expect(response.status == .found)
            #expect(response.locationParameters["error"] == "invalid_request")
            #expect(response.locationParameters["state"] == "state-123")
            #expect(response.locationParameters["iss"] == TestHarness.defaultIssuer)
            #expect(response.locationParameters["code"] == nil)
        }
    }

    @Test("§1.4: a repeated parameter is refused by redirect")
    func repeatedParameter() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery()
            let response = try await client.execute(uri: "/authorize?\(query)&code_challenge_method=S256", method: .get)
            #expect(response.locationParameters["error"] == "invalid_request")
        }
    }

    @Test("§2 / probe N1: a wrong verifier is 400 invalid_grant and burns the code")
    func wrongVerifierOverHTTP() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, pkce) = TestHarness.authorizeQuery()
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            let base = [("grant_type", "authorization_code"), ("code", code), ("client_id", TestHarness.publicClientID.rawValue)]
            let wrong = try await tokenRequest(client, base + [("code_verifier", CodeVerifier.generate().value)])
            #expect(wrong.status == .badRequest)
            #expect(try json(wrong)["error"] as? String == "invalid_grant")
            #expect(!wrong.text.contains(code), "docs/security.md §4: errors never echo the code")
            let right = try await tokenRequest(client, base + [("code_verifier", pkce.verifier.value)])
            #expect(try json(right)["error"] as? String == "invalid_grant")
        }
    }
}

@Suite("docs/security.md §4: the token endpoint over HTTP")
struct TokenHTTPTests {
    @Test("§4: POST only, form-encoded only; errors are JSON with no-store")
    func postFormOnly() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let get = try await client.execute(uri: "/token", method: .get)
            #expect(get.status == .methodNotAllowed)
            let asJSON = try await client.execute(
                uri: "/token", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"grant_type":"authorization_code"}"#))
            #expect(asJSON.status == .badRequest)
            #expect(try json(asJSON)["error"] as? String == "invalid_request")
            #expect(asJSON.headers[.cacheControl] == "no-store")
            #expect(asJSON.headers[pragma] == "no-cache")
            let huge = try await tokenRequest(
                client, [("grant_type", "authorization_code"), ("code", String(repeating: "a", count: 70_000))])
            #expect(huge.status == .badRequest)
        }
    }

    @Test(
        "docs/security.md §4, §8: an error from /token carries the same headers as a success (CORS for browser clients, nosniff, no-store)")
    func errorsKeepHeaders() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let refused = try await tokenRequest(client, [("grant_type", "authorization_code"), ("code", "x"), ("client_id", "nobody")])
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.accessControlAllowOrigin] == "*")
            #expect(refused.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(refused.headers[.cacheControl] == "no-store")
        }
    }

    @Test("§4: client_secret_basic is form-urlencoded then base64, so : % + in id and secret work")
    func basicWithSpecialCharacters() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, pkce) = TestHarness.authorizeQuery(clientID: TestHarness.confidentialClientID)
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            let credentials =
                FormParameters.percentEncode(TestHarness.confidentialClientID.rawValue) + ":"
                + FormParameters.percentEncode(TestHarness.confidentialSecret)
            let token = try await tokenRequest(
                client, [("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value)],
                authorization: "Basic " + Data(credentials.utf8).base64EncodedString())
            #expect(token.status == .ok)
            #expect(try json(token)["access_token"] != nil)
        }
    }

    @Test("§4: invalid_client is 401, with WWW-Authenticate only when Basic was used")
    func invalidClientStatus() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let form = [("grant_type", "authorization_code"), ("code", "x"), ("code_verifier", CodeVerifier.generate().value)]
            let basic = try await tokenRequest(
                client, form, authorization: "Basic " + Data("confidential%3Aclient%25%2B:wrong".utf8).base64EncodedString())
            #expect(basic.status == .unauthorized)
            #expect(basic.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            #expect(try json(basic)["error"] as? String == "invalid_client")
            let post = try await tokenRequest(client, form + [("client_id", "nobody")])
            #expect(post.status == .unauthorized)
            #expect(post.headers[.wwwAuthenticate] == nil)
            let malformed = try await tokenRequest(client, form, authorization: "Basic !!!")
            #expect(malformed.status == .unauthorized)
        }
    }

    @Test("§4: a public client that sends a secret is invalid_client; two methods at once are invalid_request")
    func secretsAndMethods() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let form = [("grant_type", "authorization_code"), ("code", "x"), ("code_verifier", CodeVerifier.generate().value)]
            let publicWithSecret = try await tokenRequest(
                client, form + [("client_id", TestHarness.publicClientID.rawValue), ("client_secret", "x")])
            #expect(try json(publicWithSecret)["error"] as? String == "invalid_client")
            let both = try await tokenRequest(
                client, form + [("client_secret", TestHarness.confidentialSecret)],
                authorization: "Basic " + Data("a:b".utf8).base64EncodedString())
            #expect(try json(both)["error"] as? String == "invalid_request")
        }
    }
}

@Suite("docs/security.md §6-§7 over HTTP: metadata and registration")
struct MetadataAndRegistrationHTTPTests {
    @Test("§6: metadata at both well-known paths; the issuer comes from configuration, never from Host")
    func metadataPaths() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
                let response = try await client.execute(
                    uri: path, method: .get,
                    headers: [HTTPField.Name("Host")!: "evil.example", HTTPField.Name("X-Forwarded-Host")!: "evil.example"])
                #expect(response.status == .ok)
                let body = try json(response)
                #expect(body["issuer"] as? String == TestHarness.defaultIssuer)
                #expect(body["code_challenge_methods_supported"] as? [String] == ["S256"])
                #expect(!response.text.contains("evil.example"))
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
        }
    }

    @Test("§6 / RFC 8414 §3.1: an issuer with a path serves path-inserted metadata and endpoints below its path")
    func issuerWithPath() async throws {
        let harness = try await TestHarness.make(issuer: "https://auth.example.com/tenant")
        try await harness.application().test(.router) { client in
            for path in [
                "/.well-known/oauth-authorization-server/tenant", "/.well-known/openid-configuration/tenant",
                "/tenant/.well-known/openid-configuration",
            ] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(try json(response)["token_endpoint"] as? String == "https://auth.example.com/tenant/token")
            }
            let (query, _) = TestHarness.authorizeQuery()
            let authorize = try await client.execute(uri: "/tenant/authorize?\(query)", method: .get)
            #expect(authorize.headers[.location]?.hasPrefix("/tenant/login?tx=") == true)
            #expect(authorize.headers[.setCookie]?.contains("Secure") == true, "https issuer: Secure cookie")
            #expect(authorize.headers[.setCookie]?.contains("Path=/tenant") == true)
        }
    }

    @Test("§7: registration answers 201 with no-store; a secret only for confidential clients; server fields ignored")
    func registration() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let body =
                #"{"redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"],"token_endpoint_auth_method":"none","client_name":"ChatGPT","client_id":"chosen-by-attacker","client_secret":"x","client_id_issued_at":1}"#
            let response = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
            #expect(response.status == .created)
            #expect(response.headers[.cacheControl] == "no-store")
            #expect(response.headers[pragma] == "no-cache")
            let registered = try json(response)
            #expect(registered["client_id"] as? String != "chosen-by-attacker")
            #expect(registered["client_secret"] == nil)
            #expect(registered["token_endpoint_auth_method"] as? String == "none")
            let clientID = try #require(registered["client_id"] as? String)
            #expect(try await harness.store.client(withID: ClientID(clientID))?.isDynamicallyRegistered == true)

            let confidential = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_post"}"#))
            let secret = try #require(try json(confidential)["client_secret"] as? String)
            let stored = try #require(try await harness.store.client(withID: ClientID(try json(confidential)["client_id"] as! String)))
            #expect(stored.secretHash == SecretHash.sha256Hex(secret))
        }
    }

    @Test(
        "§7: bad registrations are refused with the RFC 7591 error codes",
        arguments: [
            (#"{"redirect_uris":["javascript:alert(1)"]}"#, "invalid_redirect_uri"),
            (#"{"redirect_uris":["http://example.com/cb"]}"#, "invalid_redirect_uri"),
            (#"{"redirect_uris":"https://a.example/cb"}"#, "invalid_client_metadata"),
            (#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#, "invalid_client_metadata"),
            ("not json", "invalid_client_metadata"),
        ])
    func registrationErrors(body: String, error: String) async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
            #expect(try json(response)["error"] as? String == error)
            #expect(response.headers[.cacheControl] == "no-store")
        }
    }

    @Test("§7: an over-large registration is refused")
    func registrationSizeLimit() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let body = #"{"redirect_uris":["https://a.example/cb"],"client_name":""# + String(repeating: "x", count: 20_000) + #""}"#
            let response = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
            #expect(response.status == .badRequest)
        }
    }

    @Test("§7 / RFC 8252 §8.6: a registered client's name is HTML-escaped and it always sees consent, with its redirect host")
    func registeredClientOnConsentPage() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let body =
                #"{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"none","client_name":"<script>alert('x')</script>"}"#
            let registered = try json(
                try await client.execute(
                    uri: "/register", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body)))
            let clientID = ClientID(try #require(registered["client_id"] as? String))
            let browser = Browser()
            let (query, _) = TestHarness.authorizeQuery(
                clientID: clientID, redirectURI: "https://claude.ai/api/mcp/auth_callback", scope: "read")
            let login = try await browser.openLoginPage(client, query: query)
            #expect(!login.text.contains("<script>"))
            #expect(login.text.contains("&lt;script&gt;"))
            let afterLogin = try await browser.logIn(client, on: login)
            let consentLocation = try #require(afterLogin.headers[.location])
            #expect(consentLocation.hasPrefix("/consent"), "never skipped for a dynamic client")
            let consent = try await browser.get(client, consentLocation)
            #expect(consent.text.contains("claude.ai"))
            #expect(consent.text.contains("registered itself"))
            #expect(!consent.text.contains("<script>"))
            // Form contract: one POST form, csrf_token, decision=approve|deny.
            #expect(consent.text.components(separatedBy: "<form").count == 2)
            #expect(consent.text.contains(#"name="decision" value="approve""#))
            #expect(consent.text.contains(#"name="decision" value="deny""#))
        }
    }
}

@Suite("docs/security.md §8: login and consent pages")
struct PageSecurityTests {
    @Test("§8: pages deny framing, caching and referrers; no CORS on /authorize or the pages")
    func pageHeaders() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let start = try await browser.get(
                client, "/authorize?\(TestHarness.authorizeQuery().query)", headers: [.origin: "https://evil.example"])
            let login = try await browser.get(client, try #require(start.headers[.location]), headers: [.origin: "https://evil.example"])
            let errorPage = try await client.execute(uri: "/authorize?client_id=nobody", method: .get)
            for response in [start, login, errorPage] {
                #expect(response.headers[xFrameOptions] == "DENY")
                #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                #expect(response.headers[referrerPolicy] == "no-referrer")
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
            let preflight = try await client.execute(uri: "/authorize", method: .options, headers: [.origin: "https://evil.example"])
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
            let tokenPreflight = try await client.execute(uri: "/token", method: .options, headers: [.origin: "https://app.example.com"])
            #expect(tokenPreflight.headers[.accessControlAllowOrigin] == "*")
        }
    }

    @Test("§8: the login page follows the form contract and the session cookie is HttpOnly, SameSite=Lax")
    func loginFormContract() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let start = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery().query)")
            let cookie = try #require(start.headers[.setCookie])
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            #expect(!cookie.contains("Secure"), "http loopback issuer")
            let login = try await browser.get(client, try #require(start.headers[.location]))
            #expect(login.text.components(separatedBy: "<form").count == 2)
            #expect(login.text.contains(#"<form method="post""#))
            for name in ["username", "password", "csrf_token"] { #expect(login.text.contains(#"name="\#(name)""#)) }
        }
    }

    @Test("§8: a POST without the session's CSRF token changes nothing")
    func csrfRequired() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let login = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            for token in [nil, "forged", SecureRandom.token()] as [String?] {
                var form = [("username", TestHarness.username), ("password", TestHarness.password)]
                if let token { form.append(("csrf_token", token)) }
                let response = try await browser.post(client, try login.formAction(), form: form)
                #expect(response.status == .seeOther)
                #expect(response.headers[.location]?.contains("error=expired") == true)
                #expect(response.headers[.setCookie] == nil, "not logged in")
            }
            // Now log in properly, then forge the consent POST.
            let afterLogin = try await browser.logIn(client, on: login)
            let consent = try await browser.get(client, try #require(afterLogin.headers[.location]))
            let forged = try await browser.post(
                client, try consent.formAction(), form: [("csrf_token", "forged"), ("decision", "approve")])
            #expect(forged.status == .forbidden, "a forged consent POST is refused outright (docs/threat-model.md)")
            #expect(forged.locationParameters["code"] == nil)
            let real = try await browser.post(
                client, try consent.formAction(), form: [("csrf_token", try consent.csrfToken()), ("decision", "approve")])
            #expect(real.locationParameters["code"] != nil, "the forged POST did not consume the transaction")
        }
    }

    @Test("§8: an approval is used once; replaying the consent POST yields no second code")
    func approvalOnce() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let consent = try await browser.openConsentPage(client, query: TestHarness.authorizeQuery().query)
            let form = [("csrf_token", try consent.csrfToken()), ("decision", "approve")]
            let first = try await browser.post(client, try consent.formAction(), form: form)
            #expect(first.locationParameters["code"] != nil)
            let replay = try await browser.post(client, try consent.formAction(), form: form)
            #expect(replay.locationParameters["code"] == nil)
        }
    }

    @Test("§8: the transaction lives server-side and is bound to its browser: another session cannot use it")
    func transactionBoundToSession() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let victim = Browser()
            let start = try await victim.get(client, "/authorize?\(TestHarness.authorizeQuery().query)")
            let loginPath = try #require(start.headers[.location])
            let attacker = Browser()
            _ = try await attacker.authorize(client, query: TestHarness.authorizeQuery().query)  // attacker has its own logged-in session
            let stolen = try await attacker.get(client, loginPath)
            #expect(stolen.status == .badRequest)
            let consentPath = loginPath.replacingOccurrences(of: "/login", with: "/consent")
            let forged = try await attacker.post(client, consentPath, form: [("csrf_token", "x"), ("decision", "approve")])
            #expect(forged.locationParameters["code"] == nil)
        }
    }

    @Test("§8: login rotates the session (no fixation)")
    func sessionRotation() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let login = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            let before = try #require(browser.cookie)
            _ = try await browser.logIn(client, on: login)
            #expect(browser.cookie != before)
            #expect(try await harness.store.session(key: SecretHash.sha256Hex(before)) == nil)
        }
    }

    @Test("§8: unknown user and wrong password look the same; failures are throttled")
    func noEnumerationAndThrottle() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let login = try await browser.openLoginPage(client, query: TestHarness.authorizeQuery().query)
            func attempt(_ username: String, _ password: String) async throws -> TestResponse {
                try await browser.post(
                    client, try login.formAction(),
                    form: [("username", username), ("password", password), ("csrf_token", try login.csrfToken())])
            }
            let unknown = try await attempt("mallory", "whatever-password")
            let wrong = try await attempt(TestHarness.username, "wrong-password")
            #expect(unknown.headers[.location] == wrong.headers[.location])
            #expect(wrong.headers[.location]?.contains("error=invalid") == true)
            for _ in 0..<4 { _ = try await attempt(TestHarness.username, "wrong-password") }  // 5 failures in all
            let throttled = try await attempt(TestHarness.username, TestHarness.password)
            #expect(throttled.headers[.location]?.contains("error=throttled") == true)
            #expect(throttled.headers[.setCookie] == nil)
        }
    }

    @Test("docs/security.md §10: nothing secret is ever logged (code, token, verifier, password, secrets, cookies)")
    func nothingSecretInLogs() async throws {
        let harness = try await TestHarness.make()
        let secrets: [String] = try await harness.application().test(.router) { client in
            let browser = Browser()
            let (query, pkce) = TestHarness.authorizeQuery(clientID: TestHarness.confidentialClientID)
            let redirect = try await browser.authorize(client, query: query)
            let code = try #require(redirect.locationParameters["code"])
            let credentials =
                FormParameters.percentEncode(TestHarness.confidentialClientID.rawValue) + ":"
                + FormParameters.percentEncode(TestHarness.confidentialSecret)
            let token = try await tokenRequest(
                client, [("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value)],
                authorization: "Basic " + Data(credentials.utf8).base64EncodedString())
            let replay = try await tokenRequest(
                client, [("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value)],
                authorization: "Basic " + Data(credentials.utf8).base64EncodedString())
            #expect(replay.status == .badRequest)
            _ = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(extra: [("state", "secret-state")]).query)")
            let registered = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"redirect_uris":["https://a.example/cb"]}"#))
            return [
                TestHarness.password, TestHarness.confidentialSecret, code, pkce.verifier.value,
                try #require(try json(token)["access_token"] as? String), try #require(browser.cookie),
                try #require(try json(registered)["client_secret"] as? String), "secret-state", pkce.challenge.value,
            ]
        }
        let lines = harness.logs.allLines
        #expect(lines.contains { $0.contains("POST /token 200") }, "one line per request is logged")
        for secret in secrets {
            #expect(!lines.contains { $0.contains(secret) }, "leaked: \(secret.prefix(6))…")
        }
    }
}

@Suite("docs/security.md §7 over HTTP: registration rate limits")
struct RegistrationRateLimitTests {
    @Test("§7: a source creating many clients gets 429 with Retry-After; identical re-registrations still work")
    func rateLimited() async throws {
        let harness = try await TestHarness.make()
        var configuration = harness.configuration
        configuration.registrationBurst = 2
        let app = try await buildApplication(
            configuration: configuration, stores: PixyStores(harness.store), clock: harness.clock,
            logger: harness.logs.logger())
        try await app.test(.router) { client in
            func register(_ name: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/register", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(
                        string: #"{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","client_name":"\#(name)"}"#))
            }
            let first = try await register("one")
            #expect(first.status == .created)
            #expect(try await register("two").status == .created)
            let limited = try await register("three")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try json(limited)["error"] as? String == "temporarily_unavailable")
            let again = try await register("one")
            #expect(again.status == .created)
            #expect(try json(again)["client_id"] as? String == (try json(first)["client_id"] as? String))
        }
    }
}
