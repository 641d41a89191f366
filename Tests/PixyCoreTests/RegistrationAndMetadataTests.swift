import Foundation
import PixyCore
import PixyModel
import PixyTesting
import Testing

@Suite("docs/security.md §7: dynamic client registration (RFC 7591)")
struct RegistrationTests {
    func registrar() async throws -> (ClientRegistrar, CoreFixture) {
        let fixture = try await CoreFixture()
        return (ClientRegistrar(clients: fixture.store, policy: fixture.policy, clock: fixture.clock), fixture)
    }

    @Test(
        "§7: accepted redirect URIs: https, loopback http, reverse-domain private-use schemes",
        arguments: [
            "https://app.example.com/cb", "https://chatgpt.com/connector_platform_oauth_redirect",
            "https://claude.ai/api/mcp/auth_callback",
            "http://localhost/callback", "http://127.0.0.1:8765/cb", "http://[::1]/cb", "com.example.app:/oauth2redirect",
            "https://app.example.com/cb?tenant=1",
        ])
    func acceptedRedirects(uri: String) throws {
        try RedirectURIPolicy.validate(uri)
    }

    @Test(
        "§7: refused redirect URIs",
        arguments: [
            "javascript:alert(1)", "JavaScript:alert(1)", "JAVASCRIPT:alert(1)", "java\tscript:alert(1)", " javascript:alert(1)",
            "javascript\n:alert(1)", "data:text/html,<script>", "DATA:text/html,x", "file:///etc/passwd", "vbscript:msgbox",
            "http://app.example.com/cb", "http://192.168.1.5/cb", "https://app.example.com/cb#frag", "/relative/cb", "cb",
            "https://user@app.example.com/cb", "https://user:pw@app.example.com/cb", "https://", "myapp:/cb", "",
            "https://app.example.com/" + String(repeating: "a", count: 2100), "https://app.example.com/c b",
            "https://app.example.com/\u{7}",
            "http://localhost.evil.com/cb", "http://127.0.0.1@evil.com/cb", "com.example.app://user@host/cb",
        ])
    func refusedRedirects(uri: String) {
        #expect(throws: OAuthError(.invalidRedirectURI, "")) { try RedirectURIPolicy.validate(uri) }
    }

    @Test("RFC 7591 §2: defaults are authorization_code, code and client_secret_basic; a secret is issued once and stored hashed")
    func defaultsAndSecret() async throws {
        let (registrar, fixture) = try await registrar()
        let response = try await registrar.register(ClientMetadataRequest(redirectURIs: ["https://app.example.com/cb"])).response
        #expect(response.tokenEndpointAuthMethod == "client_secret_basic")
        #expect(response.grantTypes == ["authorization_code"])
        #expect(response.responseTypes == ["code"])
        let secret = try #require(response.clientSecret)
        #expect(response.clientSecretExpiresAt == 0)
        let stored = try #require(try await fixture.store.client(withID: ClientID(response.clientID)))
        #expect(stored.secretHash == SecretHash.sha256Hex(secret))
        #expect(stored.secretHash != secret)
        #expect(stored.isDynamicallyRegistered)
        #expect(!stored.maySkipConsent)
    }

    @Test("§7: a public client gets no secret")
    func publicClientNoSecret() async throws {
        let (registrar, _) = try await registrar()
        let response = try await registrar.register(
            ClientMetadataRequest(redirectURIs: ["http://localhost/callback"], tokenEndpointAuthMethod: "none")
        ).response
        #expect(response.clientSecret == nil)
        #expect(response.clientSecretExpiresAt == nil)
    }

    @Test(
        "§7: self-contradicting or unsupported metadata is invalid_client_metadata",
        arguments: [
            ClientMetadataRequest(
                redirectURIs: ["https://a.example/cb"], tokenEndpointAuthMethod: "none",
                grantTypes: ["authorization_code", "client_credentials"]),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], responseTypes: ["token"]),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], responseTypes: ["code", "id_token"]),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], grantTypes: ["implicit"]),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], grantTypes: ["refresh_token"]),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], tokenEndpointAuthMethod: "private_key_jwt"),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], clientName: String(repeating: "x", count: 201)),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], clientURI: "javascript:alert(1)"),
            ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], scope: "read nonexistent"),
        ])
    func invalidMetadata(metadata: ClientMetadataRequest) async throws {
        let (registrar, _) = try await registrar()
        await #expect(throws: OAuthError(.invalidClientMetadata, "")) { try await registrar.register(metadata) }
    }

    @Test("§7: missing or too many redirect URIs are invalid_redirect_uri")
    func redirectCount() async throws {
        let (registrar, _) = try await registrar()
        await #expect(throws: OAuthError(.invalidRedirectURI, "")) { try await registrar.register(ClientMetadataRequest()) }
        await #expect(throws: OAuthError(.invalidRedirectURI, "")) { try await registrar.register(ClientMetadataRequest(redirectURIs: [])) }
        let many = (0..<11).map { "https://a.example/cb\($0)" }
        await #expect(throws: OAuthError(.invalidRedirectURI, "")) {
            try await registrar.register(ClientMetadataRequest(redirectURIs: many))
        }
    }

    @Test("§7 hygiene: identical public registrations return one client; different metadata or confidential clients get new ones")
    func idempotentRegistration() async throws {
        let (registrar, _) = try await registrar()
        let metadata = ClientMetadataRequest(
            redirectURIs: ["http://127.0.0.1/callback"], tokenEndpointAuthMethod: "none",
            grantTypes: ["authorization_code", "refresh_token"], clientName: "Claude Code", softwareID: "claude-code")
        let first = try await registrar.register(metadata)
        let second = try await registrar.register(metadata)
        #expect(first.isNew && !second.isNew)
        #expect(first.response.clientID == second.response.clientID)
        var renamed = metadata
        renamed.clientName = "Claude Code (2)"
        #expect(try await registrar.register(renamed).response.clientID != first.response.clientID)
        let confidential = ClientMetadataRequest(redirectURIs: ["https://a.example/cb"], tokenEndpointAuthMethod: "client_secret_post")
        let a = try await registrar.register(confidential).response
        let b = try await registrar.register(confidential).response
        #expect(a.clientID != b.clientID && a.clientSecret != nil && b.clientSecret != nil)
    }

    @Test("§7 rate limits: refused creation stores nothing; an identical re-registration is answered without asking")
    func admission() async throws {
        let (registrar, fixture) = try await registrar()
        let metadata = ClientMetadataRequest(redirectURIs: ["http://127.0.0.1/callback"], tokenEndpointAuthMethod: "none")
        let before = try await fixture.store.allClients().count
        await #expect(throws: RegistrationLimitExceeded.self) {
            try await registrar.register(metadata) { throw RegistrationLimitExceeded(retryAfter: 6) }
        }
        #expect(try await fixture.store.allClients().count == before)
        let created = try await registrar.register(metadata)
        let again = try await registrar.register(metadata) {
            Issue.record("not asked for an existing client")
            throw RegistrationLimitExceeded()
        }
        #expect(created.response.clientID == again.response.clientID)
    }

    @Test("§7 hygiene: pruning removes only dynamic clients unused for the given time")
    func pruning() {
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        let old = now.addingTimeInterval(-40 * 86400)
        let clients = [
            Client(clientID: "static-old", redirectURIs: [], createdAt: old),
            Client(clientID: "dynamic-old", redirectURIs: [], isDynamicallyRegistered: true, createdAt: old),
            Client(clientID: "dynamic-used", redirectURIs: [], isDynamicallyRegistered: true, createdAt: old),
            Client(clientID: "dynamic-new", redirectURIs: [], isDynamicallyRegistered: true, createdAt: now.addingTimeInterval(-86400)),
        ]
        var used = clients
        used[2].lastUsedAt = now.addingTimeInterval(-2 * 86400)
        #expect(ClientPruning.stale(used, unusedFor: .seconds(30 * 86400), now: now).map(\.clientID) == ["dynamic-old"])
    }

    @Test("docs/security.md §7: the rate limiter allows a burst, then refills over time")
    func rateLimiter() async throws {
        let clock = ManualClock()
        let limiter = RateLimiter(clock: clock, burst: 3, refillPerSecond: 0.1)
        for _ in 0..<3 { #expect(try await limiter.take("1.2.3.4").isAllowed) }
        #expect(try await limiter.take("1.2.3.4") == RateLimitDecision(isAllowed: false, retryAfter: 10))
        #expect(try await limiter.take("5.6.7.8").isAllowed, "per source")
        clock.advance(by: .seconds(10))
        #expect(try await limiter.take("1.2.3.4").isAllowed)
        #expect(try await !limiter.take("1.2.3.4").isAllowed)
    }

    @Test("RFC 8252 §8.6: a dynamically registered client can never skip consent")
    func dynamicNeverSkipsConsent() {
        let client = Client(clientID: "x", redirectURIs: [], isDynamicallyRegistered: true, isConsentSkipped: true, createdAt: Date())
        #expect(!client.maySkipConsent)
    }
}

@Suite("docs/security.md §6: metadata and iss")
struct MetadataTests {
    @Test("§6 / RFC 8414 §2: metadata names every endpoint and S256 only")
    func metadataFields() throws {
        let metadata = ServerMetadata(policy: ServerPolicy(issuer: "https://auth.example.com/tenant"))
        let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(metadata)) as! [String: Any]
        #expect(json["issuer"] as? String == "https://auth.example.com/tenant")
        #expect(json["authorization_endpoint"] as? String == "https://auth.example.com/tenant/authorize")
        #expect(json["token_endpoint"] as? String == "https://auth.example.com/tenant/token")
        #expect(json["registration_endpoint"] as? String == "https://auth.example.com/tenant/register")
        #expect(json["jwks_uri"] as? String == "https://auth.example.com/tenant/jwks.json")
        #expect(json["code_challenge_methods_supported"] as? [String] == ["S256"])
        #expect(json["response_types_supported"] as? [String] == ["code"])
        #expect(json["authorization_response_iss_parameter_supported"] as? Bool == true)
        #expect((json["token_endpoint_auth_methods_supported"] as? [String])?.contains("none") == true)
        #expect(json["scopes_supported"] as? [String] == ["read", "write"])
        #expect(json["grant_types_supported"] as? [String] == ["authorization_code", "refresh_token"])
        #expect(json["revocation_endpoint"] as? String == "https://auth.example.com/tenant/revoke")
        #expect(json["client_id_metadata_document_supported"] as? Bool == false)
    }

    @Test("RFC 9207 §2: iss is on success and error responses; an existing query is kept")
    func issOnResponses() throws {
        let success = AuthorizationResponse.success(
            redirectURI: "https://a.example/cb?tenant=1", code: "c", state: "s t", issuer: "https://auth.example.com")
        #expect(success == "https://a.example/cb?tenant=1&code=c&state=s%20t&iss=https%3A%2F%2Fauth.example.com")
        let failure = AuthorizationResponse.failure(
            redirectURI: "https://a.example/cb", error: OAuthError(.accessDenied, "no"), state: nil,
            issuer: "https://auth.example.com")
        #expect(failure == "https://a.example/cb?error=access_denied&error_description=no&iss=https%3A%2F%2Fauth.example.com")
        #expect(!failure.contains("#"))
    }
}

@Suite("Wire decoding")
struct WireDecodingTests {
    @Test("Form decoding: + is space, escapes decode, malformed escapes are refused")
    func formDecoding() throws {
        let parameters = try #require(FormParameters(urlEncoded: "a=1+2&b=%41%2b&c=&d"))
        #expect(parameters.values("a") == ["1 2"])
        #expect(parameters.values("b") == ["A+"])
        #expect(parameters.values("c") == [])
        #expect(FormParameters(urlEncoded: "a=%4") == nil)
        #expect(FormParameters(urlEncoded: "a=%zz") == nil)
        #expect(try #require(FormParameters(urlEncoded: "a=1&a=2")).repeatedNames == ["a"])
    }

    @Test("Scope tokens follow RFC 6749 §3.3 byte rules")
    func scopeTokens() {
        #expect(Scope(parsing: "read write read")?.tokens == ["read", "write"])
        #expect(Scope(parsing: "a\"b") == nil)
        #expect(Scope(parsing: "a\\b") == nil)
        #expect(Scope(parsing: " read") == nil)
        #expect(Scope(parsing: "mcp:tools files/read") != nil)
    }

    @Test("docs/security.md §8: failed logins are limited per user and per source; success resets the user")
    func loginThrottle() async throws {
        let clock = ManualClock()
        let throttle = LoginThrottle(clock: clock, maximumFailures: 3, window: .seconds(60))
        for _ in 0..<3 {
            #expect(try await throttle.allowsAttempt(username: "alice", source: "1.2.3.4"))
            try await throttle.recordFailure(username: "alice", source: "1.2.3.4")
        }
        #expect(try await !throttle.allowsAttempt(username: "alice", source: "5.6.7.8"), "per user, from any source")
        #expect(try await throttle.allowsAttempt(username: "bob", source: "1.2.3.4"), "one source may still try other users for a while")
        clock.advance(by: .seconds(61))
        #expect(try await throttle.allowsAttempt(username: "alice", source: "1.2.3.4"))
        for index in 0..<12 { try await throttle.recordFailure(username: "user\(index)", source: "9.9.9.9") }
        #expect(try await !throttle.allowsAttempt(username: "fresh", source: "9.9.9.9"), "per source")
        for _ in 0..<2 { try await throttle.recordFailure(username: "carol", source: "4.4.4.4") }
        try await throttle.recordSuccess(username: "carol")
        for _ in 0..<2 { try await throttle.recordFailure(username: "carol", source: "4.4.4.4") }
        #expect(try await throttle.allowsAttempt(username: "carol", source: "4.4.4.4"), "success reset carol's count")
    }
}
