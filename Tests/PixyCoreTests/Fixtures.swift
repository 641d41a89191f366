import Foundation
import PixyCore
import PixyModel
import PixyTesting

/// Shared setup for the core tests: an in-memory store, a manual clock and three clients.
struct CoreFixture {
    let clock = ManualClock()
    let store: InMemoryStore
    let policy = ServerPolicy(issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write", "admin"]))
    static let redirect = "https://app.example.com/cb"

    init() async throws {
        store = InMemoryStore(clock: clock)
        try await store.save(
            Client(clientID: "app", redirectURIs: [Self.redirect, "https://app.example.com/other"], createdAt: clock.now()))
        try await store.save(
            Client(clientID: "single", redirectURIs: [Self.redirect], scope: Scope(validatedTokens: ["read"]), createdAt: clock.now()))
        try await store.save(
            Client(
                clientID: "native",
                redirectURIs: ["http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/callback", "com.example.app:/cb"],
                createdAt: clock.now()))
        try await store.save(
            Client(
                clientID: "secret-basic", redirectURIs: [Self.redirect], tokenEndpointAuthMethod: .clientSecretBasic,
                secretHash: SecretHash.sha256Hex("s3cret"), createdAt: clock.now()))
        try await store.save(
            Client(
                clientID: "refresher", redirectURIs: [Self.redirect], grantTypes: [.authorizationCode, .refreshToken],
                createdAt: clock.now()))
        try await store.save(
            Client(
                clientID: "secret-refresher", redirectURIs: [Self.redirect], tokenEndpointAuthMethod: .clientSecretPost,
                secretHash: SecretHash.sha256Hex("r3fresh"), grantTypes: [.authorizationCode, .refreshToken],
                createdAt: clock.now()))
        try await store.save(
            Client(
                clientID: "secret-post", redirectURIs: [Self.redirect], tokenEndpointAuthMethod: .clientSecretPost,
                secretHash: SecretHash.sha256Hex("p0st"), createdAt: clock.now()))
        // The user codes are issued to: token and introspection refuse users that do not exist.
        try await store.save(User(id: "user-1", username: "alice", passwordHash: "-", createdAt: clock.now()))
    }

    var validator: AuthorizationRequestValidator { AuthorizationRequestValidator(clients: store, policy: policy) }

    /// A valid request's parameters with `changes` applied (nil removes a parameter).
    static func parameters(_ changes: [String: String?] = [:], extra: [(String, String)] = []) -> FormParameters {
        var base: [(String, String)] = [
            ("response_type", "code"), ("client_id", "app"), ("redirect_uri", redirect), ("state", "s-1"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), ("code_challenge_method", "S256"),
        ]
        for (name, value) in changes {
            if let index = base.firstIndex(where: { $0.0 == name }) {
                if let value { base[index].1 = value } else { base.remove(at: index) }
            } else if let value {
                base.append((name, value))
            }
        }
        return FormParameters(base + extra)
    }

    static let verifier = CodeVerifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")!
}

/// Signs nothing: returns `token-<jti>` so tests can see what would have been signed, and
/// "verifies" exactly the tokens it issued.
struct RecordingTokenIssuer: AccessTokenIssuing, AccessTokenVerifying {
    let issued = IssuedClaims()
    func issueAccessToken(_ claims: AccessTokenClaims) async throws -> String {
        issued.append(claims)
        return "token-\(claims.tokenID)"
    }
    func verifiedClaims(of token: String) async -> AccessTokenClaims? {
        issued.all.first { "token-\($0.tokenID)" == token }
    }
}

final class IssuedClaims: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [AccessTokenClaims] = []
    func append(_ claims: AccessTokenClaims) { lock.withLock { storage.append(claims) } }
    var all: [AccessTokenClaims] { lock.withLock { storage } }
}

/// The tests drive the endpoints with a form and Basic credentials, decoded the way PixyHTTP
/// decodes them (``ClientAuthenticated/init(form:basic:)``).
extension TokenEndpoint {
    func handle(_ form: FormParameters, basic: (clientID: String, secret: String)?) async throws(OAuthError) -> TokenResponse {
        try await handle(ClientAuthenticated(form: form, basic: basic))
    }
}

extension TokenRevocation {
    func handle(_ form: FormParameters, basic: (clientID: String, secret: String)?) async throws(OAuthError) -> Outcome {
        try await handle(ClientAuthenticated(form: form, basic: basic))
    }
}

extension TokenIntrospection {
    func handle(_ form: FormParameters, basic: (clientID: String, secret: String)?) async throws(OAuthError) -> IntrospectionResponse {
        try await handle(ClientAuthenticated(form: form, basic: basic))
    }
}
