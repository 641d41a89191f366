public import struct Foundation.Date

/// A grant: what a user allowed a client, and the refresh-token family that keeps it alive
/// (docs/security.md §5). Durable. Refresh tokens themselves are never stored, only their hashes,
/// plus the current token sealed under a key that only the previous token's holder can derive.
public struct Grant: Sendable, Codable, Equatable {
    /// Random id.
    public var id: String
    /// The client.
    public var clientID: ClientID
    /// The user.
    public var subject: String
    /// What the user approved; a refresh may narrow it per request, never widen it.
    public var scope: Scope
    /// The RFC 8707 resource the grant covers.
    public var resource: String?
    /// When the user authenticated.
    public var authTime: Date
    /// When the grant was created.
    public var createdAt: Date
    /// Absolute end of the family.
    public var expiresAt: Date
    /// End of the family if it goes unused: moved forward on every refresh.
    public var idleExpiresAt: Date
    /// How many refresh tokens the family has issued.
    public var generation: Int
    /// Hash of the newest refresh token.
    public var currentTokenHash: String
    /// Hash of the one before it: still accepted until the newest is first used, and only within
    /// the retry window after ``rotatedAt`` (``ServerPolicy/refreshTokenRetryWindow``).
    public var previousTokenHash: String?
    /// When the family last rotated: the previous token is an idempotent retry only shortly after.
    public var rotatedAt: Date?
    /// The newest token, AES-GCM-sealed under a key derived from the previous token, so a client
    /// that lost the response (or raced itself) gets the same token again instead of forking.
    public var sealedCurrentToken: String?
    /// When the family was revoked.
    public var revokedAt: Date?
    /// When a refresh last used the family (shown by `pixy grants list`).
    public var lastUsedAt: Date?

    /// Ends the family: marks it revoked and forgets the sealed current token, so no retry can
    /// recover it. Every way a family ends (revocation, reuse, offboarding) goes through here.
    public mutating func revoke(at now: Date) {
        revokedAt = now
        sealedCurrentToken = nil
    }

    // The grant's access tokens are not listed here: each carries the grant's id, and revoking the
    // grant leaves one marker that outlives them (``GrantRevocation``), so the record's size and
    // a refresh's cost stay the same however often the family refreshes (docs/threat-model.md).

    /// Creates a grant.
    public init(
        id: String, clientID: ClientID, subject: String, scope: Scope, resource: String?, authTime: Date, createdAt: Date,
        expiresAt: Date, idleExpiresAt: Date, currentTokenHash: String
    ) {
        self.id = id
        self.clientID = clientID
        self.subject = subject
        self.scope = scope
        self.resource = resource
        self.authTime = authTime
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.idleExpiresAt = idleExpiresAt
        self.generation = 1
        self.currentTokenHash = currentTokenHash
        self.previousTokenHash = nil
        self.sealedCurrentToken = nil
        self.revokedAt = nil
    }
}

/// Durable grants and refresh-token families.
public protocol GrantStore: Sendable {
    /// Stores a new grant and indexes its first refresh token's hash.
    func createGrant(_ grant: Grant) async throws
    /// The grant with `id`.
    func grant(withID id: String) async throws -> Grant?
    /// Runs `body` on the grant that `refreshTokenHash` was ever issued for, as one atomic step:
    /// no other update of the grant interleaves (docs/security.md §5: concurrent refreshes never fork
    /// a family). When `body` returns `.save`, the grant is written and `newTokenHash` (if any) is
    /// indexed to it; with `.keep` nothing changes. `nil` when the hash is unknown.
    ///
    /// A store may run `body` more than once (Redis retries its compare-and-set on the newer
    /// grant when another update won), so `body` must be free of side effects.
    func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result?
    /// Runs `body` on the grant with `id` atomically, as ``updateGrant(refreshTokenHash:_:)`` does.
    func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result?
    /// The grants of one user, of one client, or all, revoked ones included, until they expire.
    func grants(of owner: GrantOwner) async throws -> [Grant]
}

/// Whose grants to list.
public enum GrantOwner: Sendable, Equatable {
    /// Every grant.
    case everyone
    /// The grants of the user with this subject id.
    case user(id: String)
    /// The grants of this client.
    case client(ClientID)

    /// Whether `grant` belongs to this owner.
    public func owns(_ grant: Grant) -> Bool {
        switch self {
        case .everyone: true
        case .user(let id): grant.subject == id
        case .client(let clientID): grant.clientID == clientID
        }
    }
}

/// What an atomic grant update decided.
public enum GrantUpdate<Result: Sendable>: Sendable {
    /// Write the grant; index `newTokenHash` to it when given.
    case save(Result, newTokenHash: String?)
    /// Change nothing (a failed refresh changes nothing, docs/security.md §5).
    case keep(Result)
}
