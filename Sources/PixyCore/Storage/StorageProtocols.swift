public import struct Foundation.Date
public import PixyModel

/// Durable registered clients.
public protocol ClientStore: Sendable {
    /// The client with `clientID`, if registered.
    func client(withID clientID: ClientID) async throws -> Client?
    /// Inserts or replaces a client.
    func save(_ client: Client) async throws
    /// Replaces the client only if it is still registered, in one step; `false` when it is gone.
    /// Used for bookkeeping (last use), which must never bring back a client removed meanwhile.
    func replaceIfPresent(_ client: Client) async throws -> Bool
    /// Removes a client; `true` if one was removed.
    func removeClient(withID clientID: ClientID) async throws -> Bool
    /// Every client, ordered by creation.
    func allClients() async throws -> [Client]
    /// The dynamically registered client with this registration fingerprint, if any.
    func client(withRegistrationFingerprint fingerprint: String) async throws -> Client?
}

/// Ephemeral authorization codes and the markers redeemed codes leave: insert with a TTL,
/// consume atomically exactly once. Lives in the ephemeral store (docs/operations.md, Stores).
public protocol AuthorizationCodeStore: Sendable {
    /// Stores `record` under `auth:code:<codeHash>` for `ttl`. Fails if the key exists.
    func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws
    /// Removes and returns the record in one atomic step, or `nil` if it is absent or its TTL
    /// ran out. Of N concurrent calls for one hash, at most one gets the record (docs/security.md §3).
    func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord?
    /// Remembers that the code with `codeHash` was redeemed, for `ttl`.
    func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws
    /// The marker of a redeemed code, if still remembered. Losing it (an ephemeral server gone)
    /// only means a later replay is refused without revoking what the code produced.
    func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker?
    /// A redemption: consumes the code as ``consumeCode(codeHash:)`` does and hands the record to
    /// `redeem`, which runs the redemption's checks and, when they pass, returns the marker to keep
    /// for `ttl` and a value for the caller. `nil` (and `redeem` is not called) when the code is
    /// absent or expired. The code is consumed whatever `redeem` does; when it throws, no marker is
    /// written and its error is rethrown (docs/security.md §3).
    ///
    /// Stores that can (memory: one lock; SQLite: one write transaction) take the code and write
    /// the marker in one atomic step, so there is no moment when the code is gone and its marker
    /// not yet written, and a redemption costs one write instead of two. If that step fails, the
    /// code stays unconsumed and nothing was issued. Other stores use the default: consume, then mark.
    func consumeCode<Redemption: Sendable>(
        codeHash: String, markingUsedFor ttl: Duration,
        after redeem: @Sendable (AuthorizationCodeRecord) throws -> (marker: UsedCodeMarker, redemption: Redemption)
    ) async throws -> Redemption?
}

extension AuthorizationCodeStore {
    /// Two steps: ``consumeCode(codeHash:)``, then ``markCodeUsed(codeHash:_:ttl:)`` once `redeem`
    /// has passed (for stores whose atomic operations cannot run the checks, such as Redis, whose
    /// scripts run on the server).
    public func consumeCode<Redemption: Sendable>(
        codeHash: String, markingUsedFor ttl: Duration,
        after redeem: @Sendable (AuthorizationCodeRecord) throws -> (marker: UsedCodeMarker, redemption: Redemption)
    ) async throws -> Redemption? {
        guard let record = try await consumeCode(codeHash: codeHash) else { return nil }
        let (marker, redemption) = try redeem(record)
        try await markCodeUsed(codeHash: codeHash, marker, ttl: ttl)
        return redemption
    }
}

/// What a successfully redeemed code leaves behind for a while (docs/security.md §3 decision):
/// enough to recognise a replay by the legitimate client and revoke what the code produced.
public struct UsedCodeMarker: Sendable, Codable, Equatable {
    /// The client the code was issued to.
    public var clientID: ClientID
    /// The code's challenge: a replay revokes only if it carries the matching verifier, so
    /// someone who merely saw the code can never revoke anything.
    public var codeChallenge: CodeChallenge
    /// The `jti`s of the access tokens issued from the code.
    public var tokenIDs: [String]
    /// When the last of those tokens expires.
    public var tokensExpireAt: Date
    /// The grant (refresh-token family) the code started, if any: revoked with the tokens.
    public var grantID: String?

    /// Creates a marker.
    public init(clientID: ClientID, codeChallenge: CodeChallenge, tokenIDs: [String], tokensExpireAt: Date, grantID: String? = nil) {
        self.clientID = clientID
        self.codeChallenge = codeChallenge
        self.tokenIDs = tokenIDs
        self.tokensExpireAt = tokensExpireAt
        self.grantID = grantID
    }
}

/// Durable revocation state of access tokens (by `jti`, or `grant:<id>` for a whole family).
public protocol TokenStatusStore: Sendable {
    /// Marks `tokenID` revoked until `expiresAt` (after that the token is expired anyway).
    func revokeToken(id tokenID: String, expiresAt: Date) async throws
    /// Whether `tokenID` was revoked.
    func isTokenRevoked(id tokenID: String) async throws -> Bool
}

/// Durable users.
public protocol UserStore: Sendable {
    /// The user with this login name.
    func user(named username: String) async throws -> User?
    /// The user with this subject id.
    func user(withID id: String) async throws -> User?
    /// Inserts or replaces a user (by id); usernames are unique.
    func save(_ user: User) async throws
    /// Removes a user by login name; `true` if one was removed.
    func removeUser(named username: String) async throws -> Bool
    /// Every user, ordered by creation.
    func allUsers() async throws -> [User]
}

/// Durable signing keys.
public protocol SigningKeyStore: Sendable {
    /// Every key, ordered by creation.
    func allSigningKeys() async throws -> [SigningKeyRecord]
    /// Inserts or replaces a key (by kid).
    func save(_ key: SigningKeyRecord) async throws
    /// Runs `body` while no other server process sharing this store runs it, so processes that
    /// start together on an empty shared store create one first key, not one each. A store only
    /// one process opens needs no lock (the default).
    func whileCreatingKeys<T: Sendable>(_ body: () async throws -> T) async throws -> T
}

extension SigningKeyStore {
    /// No other process shares this store: just run `body`.
    public func whileCreatingKeys<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await body()
    }
}

/// Browser sessions and pending authorization requests: short-lived, keyed by hashes.
public protocol InteractionStore: Sendable {
    /// Stores or replaces a session under the hash of its cookie value.
    func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws
    /// The session, if present and not expired.
    func session(key: String) async throws -> BrowserSession?
    /// Deletes a session.
    func deleteSession(key: String) async throws
    /// Stores or replaces a pending authorization under the hash of its transaction id.
    func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws
    /// The pending authorization, if present and not expired.
    func pendingAuthorization(key: String) async throws -> PendingAuthorization?
    /// Removes and returns it atomically, so an approval can be used once (docs/security.md §8).
    func consumePendingAuthorization(key: String) async throws -> PendingAuthorization?
}

/// Every store a Pixy server needs, from one backend or several.
public struct PixyStores: Sendable {
    /// Registered clients.
    public var clients: any ClientStore
    /// Authorization codes.
    public var codes: any AuthorizationCodeStore
    /// Users.
    public var users: any UserStore
    /// Signing keys.
    public var signingKeys: any SigningKeyStore
    /// Sessions and pending authorizations.
    public var interactions: any InteractionStore
    /// Revoked access tokens and used-code markers.
    public var tokenStatus: any TokenStatusStore
    /// Grants and refresh-token families.
    public var grants: any GrantStore
    /// Remembered consent.
    public var consents: any ConsentStore
    /// Shared failed-login counters, when the backend is shared by several processes (Redis);
    /// `nil` counts in process memory.
    public var failureCounters: (any FailureCounting)?
    /// Shared rate-limit buckets, likewise; `nil` keeps them in process memory.
    public var tokenBuckets: (any TokenBucketStoring)?

    /// Durable state from `durable`, short-lived state from `ephemeral`: each object kind lives
    /// in exactly one of them (docs/operations.md, Stores). Login counters and rate-limit buckets
    /// stay in process memory until the caller sets ``failureCounters`` and ``tokenBuckets``.
    public init(durable: some DurableStorageBackend, ephemeral: some EphemeralStorageBackend) {
        self.init(
            clients: durable, codes: ephemeral, users: durable, signingKeys: durable, interactions: ephemeral,
            tokenStatus: durable, grants: durable, consents: durable)
    }

    /// Bundles stores.
    public init(
        clients: any ClientStore, codes: any AuthorizationCodeStore, users: any UserStore,
        signingKeys: any SigningKeyStore, interactions: any InteractionStore, tokenStatus: any TokenStatusStore,
        grants: any GrantStore, consents: any ConsentStore
    ) {
        self.clients = clients
        self.codes = codes
        self.users = users
        self.signingKeys = signingKeys
        self.interactions = interactions
        self.tokenStatus = tokenStatus
        self.grants = grants
        self.consents = consents
    }

    /// All stores from one backend that implements every protocol.
    public init(_ backend: some PixyStorageBackend) {
        self.init(
            clients: backend, codes: backend, users: backend, signingKeys: backend, interactions: backend,
            tokenStatus: backend, grants: backend, consents: backend)
    }
}

/// A backend for what must last: clients, users, signing keys, grants and refresh families,
/// remembered consent, revoked tokens.
public typealias DurableStorageBackend = ClientStore & UserStore & SigningKeyStore & GrantStore & ConsentStore
    & TokenStatusStore

/// A backend for what expires: authorization codes and used-code markers, browser sessions and
/// pending sign-ins. Losing it loses no client, user, key or refresh family (docs/operations.md).
public typealias EphemeralStorageBackend = AuthorizationCodeStore & InteractionStore

/// A backend that implements every store protocol.
public typealias PixyStorageBackend = DurableStorageBackend & EphemeralStorageBackend

/// Storage keys per object kind. Kinds live in separate namespaces, so a value of one kind
/// presented as another (a session id as a code) is simply unknown (docs/security.md §3).
public enum StorageKey {
    /// `auth:code:<sha256 hex of the code>` (docs/architecture.md, Storage).
    public static func authorizationCode(hash: String) -> String { "auth:code:\(hash)" }
    /// `auth:session:<sha256 hex of the cookie>`.
    public static func session(hash: String) -> String { "auth:session:\(hash)" }
    /// `auth:tx:<sha256 hex of the transaction id>`.
    public static func pendingAuthorization(hash: String) -> String { "auth:tx:\(hash)" }
    /// `auth:used:<sha256 hex of the code>`: the marker a redeemed code leaves.
    public static func usedCode(hash: String) -> String { "auth:used:\(hash)" }
    /// `auth:rt:<sha256 hex of a refresh token>`: maps every token a family issued to its grant.
    public static func refreshToken(hash: String) -> String { "auth:rt:\(hash)" }
    /// `auth:consent:<user>:<client>:<resource>`: components percent-encoded so no id can
    /// forge another's key.
    public static func consent(userID: String, clientID: ClientID, resource: String?) -> String {
        consentPrefix(userID: userID, clientID: clientID) + FormParameters.percentEncode(resource ?? "")
    }
    /// `auth:consent:<user>:<client>:`: what every consent key of one user and client starts with,
    /// and no other's (the components are percent-encoded, so none contains `:`).
    public static func consentPrefix(userID: String, clientID: ClientID) -> String {
        "auth:consent:\(FormParameters.percentEncode(userID)):\(FormParameters.percentEncode(clientID.rawValue)):"
    }
    /// `auth:revoked:<jti>`.
    public static func revokedToken(id: String) -> String { "auth:revoked:\(id)" }
}
