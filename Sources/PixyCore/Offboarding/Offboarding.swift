public import struct Foundation.Date

/// Cutting off a user, a client or a grant (docs/threat-model.md, "offboarding"). Removing a
/// user or client first revokes every grant it holds (refresh families and their live access
/// tokens, as `/introspect` sees them), then deletes the record; the token endpoint and
/// introspection also refuse a removed user's or client's tokens, so a failure between the two
/// steps still leaves nothing usable. A user's browser sessions end with the user (sessions name a
/// user that no longer exists) or, for a password change, through ``User/sessionVersion``.
public struct Offboarding: Sendable {
    private let stores: PixyStores
    private let policy: ServerPolicy
    private let clock: any WallClock

    /// Works on `stores` with the server's policy (the access-token lifetime bounds how long a
    /// revocation marker must live).
    public init(stores: PixyStores, policy: ServerPolicy, clock: any WallClock) {
        self.stores = stores
        self.policy = policy
        self.clock = clock
    }

    /// Revokes every live grant of `owner`; returns the grants it revoked.
    @discardableResult
    public func revokeGrants(of owner: GrantOwner) async throws -> [Grant] {
        let now = clock.now()
        let live = try await stores.grants.grants(of: owner).filter { $0.revokedAt == nil }
        for grant in live {
            try await GrantRevocation.revoke(
                grantID: grant.id, grants: stores.grants, tokenStatus: stores.tokenStatus,
                policy: policy, now: now)
        }
        return live
    }

    /// Revokes one grant by id; `false` if there is no such grant.
    public func revokeGrant(id: String) async throws -> Bool {
        guard try await stores.grants.grant(withID: id) != nil else { return false }
        try await GrantRevocation.revoke(
            grantID: id, grants: stores.grants, tokenStatus: stores.tokenStatus, policy: policy,
            now: clock.now())
        return true
    }

    /// Revokes the user's grants, then removes the user; `nil` if there is no such user.
    public func removeUser(named username: String) async throws -> [Grant]? {
        guard let user = try await stores.users.user(named: Username.canonical(username)) else { return nil }
        let revoked = try await revokeGrants(of: .user(id: user.id))
        guard try await stores.users.removeUser(named: user.username) else { return nil }
        return revoked
    }

    /// Revokes the client's grants, then removes the client; `nil` if there is no such client.
    public func removeClient(withID clientID: ClientID) async throws -> [Grant]? {
        guard try await stores.clients.client(withID: clientID) != nil else { return nil }
        let revoked = try await revokeGrants(of: .client(clientID))
        guard try await stores.clients.removeClient(withID: clientID) else { return nil }
        return revoked
    }

    /// Sets a new password hash and ends every browser session of the user. Grants stay: a
    /// password change is not a revocation of the apps the user approved (`revokeGrants` is).
    public func changePassword(of username: String, toHash passwordHash: String) async throws -> Bool {
        guard var user = try await stores.users.user(named: Username.canonical(username)) else { return false }
        user.passwordHash = passwordHash
        user.sessionVersion = (user.sessionVersion ?? 0) + 1
        try await stores.users.save(user)
        return true
    }
}

/// Whether a browser session still signs its user in.
public enum SessionValidity {
    /// The session's user if the session names one, the user still exists, and no password change
    /// happened since the session signed in.
    public static func signedInUser(of session: BrowserSession, users: any UserStore) async throws -> User? {
        guard let userID = session.userID, let user = try await users.user(withID: userID) else { return nil }
        guard (session.userSessionVersion ?? 0) == (user.sessionVersion ?? 0) else { return nil }
        return user
    }
}
