public import Foundation
public import PixyCore
import PostgresNIO

/// ClientStore on PostgreSQL: `pixy_clients`.
extension PostgresStore: ClientStore {
    /// The client with this id, if registered.
    public func client(withID clientID: ClientID) async throws -> Client? {
        guard isStorable(clientID.rawValue) else { return nil }
        return try await texts("SELECT record FROM pixy_clients WHERE client_id = \(clientID.rawValue)", "read client")
            .first.map { try decode($0, through: clientRecords) }
    }

    /// Inserts or replaces a client (and its registration fingerprint).
    public func save(_ client: Client) async throws {
        let text = try encode(client)
        try await execute(
            """
            INSERT INTO pixy_clients (client_id, created_at, fingerprint, record)
            VALUES (\(client.clientID.rawValue), \(client.createdAt.timeIntervalSince1970), \(client.registrationFingerprint), \(text))
            ON CONFLICT (client_id) DO UPDATE SET created_at = excluded.created_at, fingerprint = excluded.fingerprint,
                record = excluded.record
            """, "save client")
    }

    /// An `UPDATE`, which touches no row once the client was removed.
    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        let text = try encode(client)
        return try await execute(
            "UPDATE pixy_clients SET record = \(text) WHERE client_id = \(client.clientID.rawValue) RETURNING 1", "update client") > 0
    }

    /// Removes a client; `true` if one was removed.
    public func removeClient(withID clientID: ClientID) async throws -> Bool {
        guard isStorable(clientID.rawValue) else { return false }
        return try await execute("DELETE FROM pixy_clients WHERE client_id = \(clientID.rawValue) RETURNING 1", "remove client") > 0
    }

    /// Every client, ordered by creation.
    public func allClients() async throws -> [Client] {
        try await texts("SELECT record FROM pixy_clients ORDER BY created_at, client_id", "list clients")
            .map { try decode(Client.self, $0) }
    }

    /// The dynamically registered client with this registration fingerprint, if any.
    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        guard isStorable(fingerprint) else { return nil }
        return try await texts(
            "SELECT record FROM pixy_clients WHERE fingerprint = \(fingerprint) ORDER BY created_at LIMIT 1", "read client"
        ).first.map { try decode(Client.self, $0) }
    }
}

/// UserStore on PostgreSQL: `pixy_users`, usernames unique by constraint.
extension PostgresStore: UserStore {
    /// The user with this login name.
    public func user(named username: String) async throws -> User? {
        guard isStorable(username) else { return nil }
        return try await texts("SELECT record FROM pixy_users WHERE username = \(username)", "read user")
            .first.map { try decode($0, through: userRecords) }
    }

    /// The user with this subject id.
    public func user(withID id: String) async throws -> User? {
        guard isStorable(id) else { return nil }
        return try await texts("SELECT record FROM pixy_users WHERE id = \(id)", "read user").first.map {
            try decode($0, through: userRecords)
        }
    }

    /// Inserts or replaces a user by id; a username another user holds is
    /// ``StorageError/duplicateUsername``.
    public func save(_ user: User) async throws {
        let text = try encode(user)
        do {
            try await execute(
                """
                INSERT INTO pixy_users (id, username, created_at, record)
                VALUES (\(user.id), \(user.username), \(user.createdAt.timeIntervalSince1970), \(text))
                ON CONFLICT (id) DO UPDATE SET username = excluded.username, record = excluded.record
                """, "save user")
        } catch let error as StorageError where error.code == .duplicateKey {
            throw StorageError.duplicateUsername
        }
    }

    /// Removes a user by login name; `true` if one was removed.
    public func removeUser(named username: String) async throws -> Bool {
        guard isStorable(username) else { return false }
        return try await execute("DELETE FROM pixy_users WHERE username = \(username) RETURNING 1", "remove user") > 0
    }

    /// Every user, ordered by creation.
    public func allUsers() async throws -> [User] {
        try await texts("SELECT record FROM pixy_users ORDER BY created_at, username", "list users").map { try decode(User.self, $0) }
    }
}

/// SigningKeyStore on PostgreSQL: `pixy_signing_keys`.
extension PostgresStore: SigningKeyStore {
    /// Every key, ordered by creation.
    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        try await texts("SELECT record FROM pixy_signing_keys ORDER BY created_at, kid", "list signing keys")
            .map { try decode(SigningKeyRecord.self, $0) }
    }

    /// Inserts or replaces a key by kid.
    public func save(_ key: SigningKeyRecord) async throws {
        let text = try encode(key)
        try await execute(
            """
            INSERT INTO pixy_signing_keys (kid, created_at, record) VALUES (\(key.kid), \(key.createdAt.timeIntervalSince1970), \(text))
            ON CONFLICT (kid) DO UPDATE SET created_at = excluded.created_at, record = excluded.record
            """, "save signing key")
    }

    /// Holds a session-level advisory lock on one pooled connection while `body` runs, so
    /// processes starting together on an empty database create one first key between them.
    public func whileCreatingKeys<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let lockKey = PostgresMigrations.lockKey + 1
        do {
            return try await client.withConnection { connection in
                try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
                do {
                    let result = try await body()
                    try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                    return result
                } catch {
                    _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                    throw error
                }
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(postgres: error, during: "lock signing-key creation")
        }
    }
}

/// ConsentStore on PostgreSQL: `pixy_consents`.
extension PostgresStore: ConsentStore {
    /// The remembered consent of `userID` for `clientID` and `resource`.
    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        let key = StorageKey.consent(userID: userID, clientID: clientID, resource: resource)
        guard isStorable(key) else { return nil }
        return try await texts("SELECT record FROM pixy_consents WHERE key = \(key)", "read consent")
            .first.map { try decode(ConsentRecord.self, $0) }
    }

    /// Stores (replaces) it.
    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        let key = StorageKey.consent(userID: userID, clientID: clientID, resource: resource)
        let text = try encode(record)
        try await execute(
            "INSERT INTO pixy_consents (key, record) VALUES (\(key), \(text)) ON CONFLICT (key) DO UPDATE SET record = excluded.record",
            "save consent")
    }

    /// Forgets the consent for this user and client, every resource (a prefix compare, not
    /// `LIKE`, whose `%` wildcard fills percent-encoded keys).
    public func forgetConsents(userID: String, clientID: ClientID) async throws {
        let prefix = StorageKey.consentPrefix(userID: userID, clientID: clientID)
        guard isStorable(prefix) else { return }
        try await execute("DELETE FROM pixy_consents WHERE left(key, length(\(prefix))) = \(prefix)", "forget consents")
    }
}

/// TokenStatusStore on PostgreSQL: `pixy_revoked_tokens`, swept once the token would have expired.
extension PostgresStore: TokenStatusStore {
    /// Marks `tokenID` revoked until `expiresAt`.
    public func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        let key = StorageKey.revokedToken(id: tokenID)
        try await execute(
            """
            INSERT INTO pixy_revoked_tokens (key, expires_at) VALUES (\(key), \(expiresAt.timeIntervalSince1970))
            ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
            """, "revoke token")
        try await sweepIfDue()
    }

    /// Whether `tokenID` was revoked.
    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        guard isStorable(tokenID) else { return false }
        return try await execute("SELECT 1 FROM pixy_revoked_tokens WHERE key = \(StorageKey.revokedToken(id: tokenID))", "read revocation")
            > 0
    }
}

/// GrantStore on PostgreSQL: `pixy_grants` and `pixy_refresh_tokens`.
extension PostgresStore: GrantStore {
    /// Inserts the grant and its first token's index entry in one statement; an id that exists is
    /// ``StorageError/duplicateKey``.
    public func createGrant(_ grant: Grant) async throws {
        let text = try encode(grant)
        let expiresAt = grant.expiresAt.timeIntervalSince1970
        let tokenKey = StorageKey.refreshToken(hash: grant.currentTokenHash)
        try await execute(
            """
            WITH created AS (
                INSERT INTO pixy_grants (id, subject, client_id, expires_at, record)
                VALUES (\(grant.id), \(grant.subject), \(grant.clientID.rawValue), \(expiresAt), \(text)) RETURNING id
            )
            INSERT INTO pixy_refresh_tokens (key, grant_id, expires_at) SELECT \(tokenKey), id, \(expiresAt) FROM created
            """, "create grant")
        try await sweepIfDue()
    }

    /// The grant with this id, if any.
    public func grant(withID id: String) async throws -> Grant? {
        guard isStorable(id) else { return nil }
        return try await texts("SELECT record FROM pixy_grants WHERE id = \(id)", "read grant").first.map { try decode(Grant.self, $0) }
    }

    /// Finds the grant the token hash was issued for, then updates it as
    /// ``updateGrant(id:_:)`` does.
    public func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        let key = StorageKey.refreshToken(hash: refreshTokenHash)
        guard let id = try await texts("SELECT grant_id FROM pixy_refresh_tokens WHERE key = \(key)", "read refresh token").first
        else { return nil }
        return try await updateGrant(id: id, body)
    }

    /// Read, decide, then one conditional `UPDATE` that succeeds only if the row still holds
    /// exactly what was read (and, in the same statement, indexes the new token's hash). When
    /// another update won, the decision runs again on the newer grant: a compare-and-set, so
    /// concurrent refreshes never fork a family and never lose an update (docs/security.md §5).
    public func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws
        -> Result?
    {
        guard isStorable(id) else { return nil }
        for _ in 0..<1000 {
            guard let text = try await texts("SELECT record FROM pixy_grants WHERE id = \(id)", "read grant").first else { return nil }
            var grant = try decode(Grant.self, text)
            switch body(&grant) {
            case .keep(let result):
                return result
            case .save(let result, let newTokenHash):
                let updated = try encode(grant)
                let changed: Int
                if let newTokenHash {
                    let tokenKey = StorageKey.refreshToken(hash: newTokenHash)
                    changed = try await execute(
                        """
                        WITH updated AS (
                            UPDATE pixy_grants SET record = \(updated), expires_at = \(grant.expiresAt.timeIntervalSince1970)
                            WHERE id = \(id) AND record = \(text) RETURNING id, expires_at
                        )
                        INSERT INTO pixy_refresh_tokens (key, grant_id, expires_at)
                        SELECT \(tokenKey), id, expires_at FROM updated RETURNING 1
                        """, "update grant")
                } else {
                    changed = try await execute(
                        """
                        UPDATE pixy_grants SET record = \(updated), expires_at = \(grant.expiresAt.timeIntervalSince1970)
                        WHERE id = \(id) AND record = \(text) RETURNING 1
                        """, "update grant")
                }
                if changed > 0 { return result }
            }
        }
        throw StorageError.failed("postgres: grant \(id) kept changing under 1000 update attempts")
    }

    /// The grants of `owner` that have not ended, revoked ones included, in creation order.
    public func grants(of owner: GrantOwner) async throws -> [Grant] {
        let now = nowSeconds
        let query: PostgresQuery
        switch owner {
        case .everyone:
            query = "SELECT record FROM pixy_grants WHERE expires_at > \(now) ORDER BY position"
        case .user(let subject):
            query = "SELECT record FROM pixy_grants WHERE subject = \(subject) AND expires_at > \(now) ORDER BY position"
        case .client(let clientID):
            query = "SELECT record FROM pixy_grants WHERE client_id = \(clientID.rawValue) AND expires_at > \(now) ORDER BY position"
        }
        return try await texts(query, "list grants").map { try decode(Grant.self, $0) }
    }
}
