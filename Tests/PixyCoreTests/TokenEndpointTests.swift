import Foundation
import PixyCore
import PixyModel
import PixyTesting
import Testing

/// A code store whose TTL never fires, to prove the server checks the record's own expiry.
final class TTLIgnoringCodeStore: AuthorizationCodeStore, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [String: AuthorizationCodeRecord] = [:]
    private var markers: [String: UsedCodeMarker] = [:]
    private(set) var keys: [String] = []
    func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        lock.withLock {
            records[codeHash] = record; keys.append(StorageKey.authorizationCode(hash: codeHash))
        }
    }
    func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        lock.withLock { records.removeValue(forKey: codeHash) }
    }
    func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        lock.withLock { markers[codeHash] = marker }
    }
    func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        lock.withLock { markers[codeHash] }
    }
}

struct TokenFixture {
    let core: CoreFixture
    let codes: any AuthorizationCodeStore
    let issuer = RecordingTokenIssuer()
    let policy: ServerPolicy?

    init(codes: (any AuthorizationCodeStore)? = nil, policy: ServerPolicy? = nil) async throws {
        core = try await CoreFixture()
        self.codes = codes ?? core.store
        self.policy = policy
    }

    var endpoint: TokenEndpoint {
        TokenEndpoint(
            clients: core.store, codes: codes, tokens: issuer, tokenStatus: core.store, grants: core.store, users: core.store,
            policy: policy ?? core.policy,
            clock: core.clock)
    }

    /// Runs /authorize validation and issues a code for `user-1`.
    func issueCode(_ changes: [String: String?] = [:], policy: ServerPolicy? = nil) async throws -> String {
        let effective = policy ?? self.policy ?? core.policy
        let request = try await AuthorizationRequestValidator(clients: core.store, policy: effective).validate(
            CoreFixture.parameters(changes))
        let issuer = AuthorizationCodeIssuer(codes: codes, policy: policy ?? core.policy, clock: core.clock)
        return try await issuer.issueCode(for: request, subject: "user-1", authTime: core.clock.now()).code
    }

    static func form(
        code: String, verifier: String? = CoreFixture.verifier.value, clientID: String? = "app",
        extra: [(String, String)] = []
    ) -> FormParameters {
        var pairs = [("grant_type", "authorization_code"), ("code", code)]
        if let verifier { pairs.append(("code_verifier", verifier)) }
        if let clientID { pairs.append(("client_id", clientID)) }
        return FormParameters(pairs + extra)
    }

    func redeem(_ form: FormParameters, basic: (clientID: String, secret: String)? = nil) async -> Result<TokenResponse, OAuthError> {
        do { return .success(try await endpoint.handle(form, basic: basic)) } catch { return .failure(error) }
    }
}

extension Result where Failure == OAuthError {
    var errorCode: OAuthError.Code? { if case .failure(let error) = self { error.code } else { nil } }
    var isSuccess: Bool { if case .success = self { true } else { false } }
}

@Suite("docs/security.md §2-§4: redeeming a code at /token")
struct TokenEndpointTests {
    @Test("RFC 7636 §4.6: the right verifier yields a token whose claims carry the grant")
    func happyPath() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode(["scope": "read", "resource": "https://mcp.example.com/mcp"])
        let result = await fixture.redeem(TokenFixture.form(code: code, extra: [("redirect_uri", CoreFixture.redirect)]))
        let response = try result.get()
        #expect(response.tokenType == "Bearer")
        #expect(response.expiresIn == 900, "15-minute access tokens by default")
        #expect(response.scope == "read")
        let claims = try #require(fixture.issuer.issued.all.first)
        #expect(claims.audience == "https://mcp.example.com/mcp")
        #expect(claims.subject == "user-1")
        #expect(claims.clientID == "app")
        #expect(claims.issuer == "https://auth.example.com")
        #expect(claims.expiresAt.timeIntervalSince(claims.issuedAt) == 900)
        #expect(response.refreshToken == nil, "this client did not register the refresh_token grant")
    }

    @Test("§6: without a resource, aud is the issuer")
    func audienceDefaultsToIssuer() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        _ = try await fixture.redeem(TokenFixture.form(code: code)).get()
        #expect(fixture.issuer.issued.all.first?.audience == "https://auth.example.com")
    }

    @Test("§2 decision: a well-formed wrong verifier is invalid_grant, and it burns the code")
    func wrongVerifierBurnsCode() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        let wrong = CodeVerifier.generate().value
        #expect(await fixture.redeem(TokenFixture.form(code: code, verifier: wrong)).errorCode == .invalidGrant)
        #expect(await fixture.redeem(TokenFixture.form(code: code)).errorCode == .invalidGrant, "fail closed: consumed")
        #expect(fixture.issuer.issued.all.isEmpty)
    }

    @Test(
        "§2 decision: a malformed verifier is invalid_request and consumes nothing",
        arguments: [
            "short", String(repeating: "a", count: 129), CoreFixture.verifier.value + "\n", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+",
        ])
    func malformedVerifier(verifier: String?) async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        #expect(await fixture.redeem(TokenFixture.form(code: code, verifier: verifier)).errorCode == .invalidRequest)
        #expect(await fixture.redeem(TokenFixture.form(code: code)).isSuccess)
    }

    @Test("RFC 7636 §4.6: a token request without code_verifier is invalid_grant and consumes nothing")
    func missingVerifier() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        #expect(await fixture.redeem(TokenFixture.form(code: code, verifier: nil)).errorCode == .invalidGrant)
        #expect(await fixture.redeem(TokenFixture.form(code: code)).isSuccess)
    }

    @Test("§3: a code is single use")
    func singleUse() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        #expect(await fixture.redeem(TokenFixture.form(code: code)).isSuccess)
        #expect(await fixture.redeem(TokenFixture.form(code: code)).errorCode == .invalidGrant)
    }

    @Test("§3: exactly one of many parallel redemptions succeeds")
    func parallelRedemption() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        let successes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 { group.addTask { await fixture.redeem(TokenFixture.form(code: code)).isSuccess } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(successes == 1)
    }

    @Test("§3: the record's own expiry is checked even if the store's TTL did not fire")
    func expiryCheckedByServer() async throws {
        let fixture = try await TokenFixture(codes: TTLIgnoringCodeStore())
        let code = try await fixture.issueCode()
        fixture.core.clock.advance(by: .seconds(61))
        #expect(await fixture.redeem(TokenFixture.form(code: code)).errorCode == .invalidGrant)
    }

    @Test("§3: default lifetime is 60 s; a code just inside it works")
    func withinLifetime() async throws {
        let fixture = try await TokenFixture(codes: TTLIgnoringCodeStore())
        let code = try await fixture.issueCode()
        fixture.core.clock.advance(by: .seconds(59))
        #expect(await fixture.redeem(TokenFixture.form(code: code)).isSuccess)
    }

    @Test("§3: lifetimes above 600 s are capped")
    func lifetimeCap() {
        #expect(ServerPolicy(issuer: "https://x", codeLifetime: .seconds(3600)).codeLifetime == .seconds(600))
    }

    @Test("§3: codes are stored only under auth:code:<sha256>, never in plaintext")
    func storedAsHash() async throws {
        let store = TTLIgnoringCodeStore()
        let fixture = try await TokenFixture(codes: store)
        let code = try await fixture.issueCode()
        #expect(store.keys == ["auth:code:" + SecretHash.sha256Hex(code)])
        #expect(!store.keys[0].contains(code))
        #expect(Base64URL.decode(code)?.count == 32, "256 bits of entropy")
    }

    @Test("§3: a code is bound to its client")
    func boundToClient() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        try await fixture.core.store.save(
            Client(clientID: "other", redirectURIs: [CoreFixture.redirect], createdAt: fixture.core.clock.now()))
        #expect(await fixture.redeem(TokenFixture.form(code: code, clientID: "other")).errorCode == .invalidGrant)
    }

    @Test(
        "§4: redirect_uri, when sent, must equal the one used at /authorize",
        arguments: [
            "https://app.example.com/other", "https://app.example.com/cb/", "https://APP.example.com/cb",
        ])
    func redirectMustMatch(redirect: String) async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        #expect(await fixture.redeem(TokenFixture.form(code: code, extra: [("redirect_uri", redirect)])).errorCode == .invalidGrant)
    }

    @Test("§3: a code is bound to its issuer")
    func boundToIssuer() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode(policy: ServerPolicy(issuer: "https://other-issuer.example.com"))
        #expect(await fixture.redeem(TokenFixture.form(code: code)).errorCode == .invalidGrant)
    }

    @Test("RFC 8707 §2.2: the token request may only name the granted resource")
    func resourceMustMatch() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode(["resource": "https://mcp.example.com/mcp"])
        #expect(
            await fixture.redeem(TokenFixture.form(code: code, extra: [("resource", "https://evil.example/")])).errorCode == .invalidTarget)
        let second = try await fixture.issueCode()
        #expect(
            await fixture.redeem(TokenFixture.form(code: second, extra: [("resource", "https://mcp.example.com/mcp")])).errorCode
                == .invalidTarget)
    }

    @Test("§3: a value of another kind is simply unknown")
    func otherKindsUnknown() async throws {
        let fixture = try await TokenFixture()
        #expect(await fixture.redeem(TokenFixture.form(code: SecureRandom.token())).errorCode == .invalidGrant)
        #expect(await fixture.redeem(TokenFixture.form(code: "token-abc")).errorCode == .invalidGrant)
    }

    @Test(
        "§4: grant_type missing, unknown or not the client's",
        arguments: [
            (nil, OAuthError.Code.invalidRequest), ("password", .unsupportedGrantType), ("client_credentials", .unsupportedGrantType),
            ("refresh_token", .unauthorizedClient),
        ])
    func grantTypes(grantType: String?, expected: OAuthError.Code) async throws {
        let fixture = try await TokenFixture()
        var pairs: [(String, String)] = [("client_id", "app"), ("code", "x"), ("code_verifier", CoreFixture.verifier.value)]
        if let grantType { pairs.append(("grant_type", grantType)) }
        #expect(await fixture.redeem(FormParameters(pairs)).errorCode == expected)
    }

    @Test("§4 / RFC 6749 §3.2: a repeated parameter is invalid_request")
    func repeatedParameter() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        #expect(await fixture.redeem(TokenFixture.form(code: code, extra: [("code", code)])).errorCode == .invalidRequest)
        #expect(await fixture.redeem(TokenFixture.form(code: code)).isSuccess, "a refused request consumed nothing")
    }
}

@Suite("docs/security.md §4: client authentication at /token")
struct ClientAuthenticationTests {
    func authenticate(_ credentials: ClientCredentials) async throws -> Result<ClientID, OAuthError> {
        let fixture = try await CoreFixture()
        do { return .success(try await ClientAuthenticator(clients: fixture.store).authenticate(credentials).clientID) } catch {
            return .failure(error)
        }
    }

    @Test("none: a public client identifies itself with client_id")
    func publicClient() async throws {
        #expect(try await authenticate(.init(formClientID: "app")).get() == "app")
    }

    @Test(
        "client_secret_basic and client_secret_post with the right secret; RFC 6749 §2.3.1: Basic works for a client_secret_post client too"
    )
    func secrets() async throws {
        #expect(try await authenticate(.init(basic: ("secret-basic", "s3cret"))).get() == "secret-basic")
        #expect(try await authenticate(.init(formClientID: "secret-post", formClientSecret: "p0st")).get() == "secret-post")
        #expect(try await authenticate(.init(basic: ("secret-post", "p0st"))).get() == "secret-post")
        #expect(try await authenticate(.init(basic: ("secret-post", "wrong"))).errorCode == .invalidClient)
    }

    @Test(
        "invalid_client: unknown client, wrong secret, public client with a secret, confidential without, wrong method",
        arguments: [
            ClientCredentials(formClientID: "nobody"),
            ClientCredentials(basic: ("secret-basic", "wrong")),
            ClientCredentials(basic: ("secret-basic", "s3cre")),
            ClientCredentials(formClientID: "app", formClientSecret: "anything"),
            ClientCredentials(basic: ("app", "anything")),
            ClientCredentials(formClientID: "secret-basic"),
            ClientCredentials(formClientID: "secret-basic", formClientSecret: "s3cret"),
            ClientCredentials(),
        ])
    func invalidClient(credentials: ClientCredentials) async throws {
        #expect(try await authenticate(credentials).errorCode == .invalidClient)
    }

    @Test("RFC 6749 §2.3: two methods in one request are invalid_request")
    func twoMethods() async throws {
        #expect(try await authenticate(.init(basic: ("secret-basic", "s3cret"), formClientSecret: "s3cret")).errorCode == .invalidRequest)
        #expect(try await authenticate(.init(basic: ("secret-basic", "s3cret"), formClientID: "app")).errorCode == .invalidRequest)
    }
}
