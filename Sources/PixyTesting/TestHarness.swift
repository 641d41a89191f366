public import Hummingbird
public import PixyCore
public import PixyServer
public import PixyModel
import PixyHTTP
import Foundation

/// An in-process Pixy with in-memory stores, a manual clock, a seeded user and clients, and a
/// log capture. Tests and downstream users drive it with HummingbirdTesting.
public struct TestHarness: Sendable {
    /// The issuer every harness uses unless told otherwise.
    public static let defaultIssuer = "http://127.0.0.1:8080"
    /// The seeded user's login name and password.
    public static let username = "alice"
    /// The seeded user's password.
    public static let password = "correct horse battery staple"
    /// A public client that must see the consent page.
    public static let publicClientID = ClientID("public-client")
    /// A first-party public client that skips consent.
    public static let firstPartyClientID = ClientID("first-party")
    /// A confidential client using `client_secret_basic`.
    public static let confidentialClientID = ClientID("confidential:client%+")
    /// Its secret (with characters that need form encoding inside Basic).
    public static let confidentialSecret = "s3cret:with%special+chars"
    /// The redirect URI every seeded client registers.
    public static let redirectURI = "https://app.example.com/callback"

    /// The in-memory store (shared with the application unless ``stores`` names others).
    public let store: InMemoryStore
    /// The stores the application runs on: by default every kind in ``store``; a test of a
    /// durable and an ephemeral store together passes its own (``make(issuer:codeLifetime:stores:)``).
    public let stores: PixyStores
    /// The clock.
    public let clock: ManualClock
    /// The configuration the application was built with.
    public var configuration: Configuration
    /// Everything the application logged.
    public let logs: LogCapture
    /// The seeded user.
    public let user: User

    /// Creates a harness and seeds it: on an in-memory store, or on the stores `makeStores`
    /// opens with the harness's clock.
    public static func make(
        issuer: String = defaultIssuer, codeLifetime: Duration = .seconds(60),
        stores makeStores: ((ManualClock) async throws -> PixyStores)? = nil
    ) async throws -> TestHarness {
        let clock = ManualClock()
        let store = InMemoryStore(clock: clock)
        let stores = try await makeStores?(clock) ?? PixyStores(store)
        var configuration = Configuration(issuer: issuer, store: .memory, codeLifetime: codeLifetime, passwordHashCost: 10)
        configuration.scopes = Scope(validatedTokens: ["read", "write", "admin"])
        let user = User(
            id: "user-1", username: username,
            passwordHash: try await BcryptPasswordHasher(cost: 10).hash(password), createdAt: clock.now())
        try await stores.users.save(user)
        try await stores.clients.save(
            Client(
                clientID: publicClientID, clientName: "Public <b>App</b>", redirectURIs: [redirectURI, "http://127.0.0.1/cb"],
                createdAt: clock.now()))
        try await stores.clients.save(
            Client(
                clientID: firstPartyClientID, clientName: "First Party", redirectURIs: [redirectURI],
                isConsentSkipped: true, createdAt: clock.now()))
        try await stores.clients.save(
            Client(
                clientID: confidentialClientID, clientName: "Confidential", redirectURIs: [redirectURI],
                tokenEndpointAuthMethod: .clientSecretBasic, secretHash: SecretHash.sha256Hex(confidentialSecret),
                createdAt: clock.now()))
        return TestHarness(
            store: store, stores: stores, clock: clock, configuration: configuration, logs: LogCapture(), user: user)
    }

    /// Builds the application over the harness's stores, counting into `metrics` when given.
    public func application(metrics: PixyMetrics? = nil) async throws -> some ApplicationProtocol {
        try await buildApplication(
            configuration: configuration, stores: stores, clock: clock,
            logger: logs.logger(), metrics: metrics)
    }

    /// The query of an authorization request with a fresh PKCE pair, returned too.
    public static func authorizeQuery(
        clientID: ClientID = publicClientID, redirectURI: String? = redirectURI,
        state: String = "state-123", scope: String? = nil, extra: [(String, String)] = []
    )
        -> (query: String, pkce: PKCEPair)
    {
        let pkce = PKCEPair.generate()
        var pairs = [("response_type", "code"), ("client_id", clientID.rawValue)]
        if let redirectURI { pairs.append(("redirect_uri", redirectURI)) }
        pairs += [("state", state), ("code_challenge", pkce.challenge.value), ("code_challenge_method", "S256")]
        if let scope { pairs.append(("scope", scope)) }
        pairs += extra
        return (FormParameters.encode(pairs), pkce)
    }
}
