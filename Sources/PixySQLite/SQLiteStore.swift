import GRDB
public import PixyCore
public import Foundation
import Synchronization

/// Every Pixy store in one SQLite file (GRDB, WAL mode): the embedded default.
///
/// Durable objects (clients, users, keys) and ephemeral ones (codes, sessions, pending
/// authorizations) live in separate tables, so kinds never mix. Records are JSON in a column;
/// the columns used for lookups and expiry stand beside them. Expired rows are swept now and
/// then on writes; every read also checks expiry against the injected clock.
public final class SQLiteStore: PixyStorageBackend {
    private let database: DatabasePool
    private let clock: any WallClock
    private let writesSinceSweep = Mutex(0)

    /// Opens (creating if needed) the database at `path` and runs migrations.
    public init(path: String, clock: any WallClock = SystemWallClock()) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // WAL is DatabasePool's default; synchronous=NORMAL is safe with WAL and avoids an
            // fsync per commit.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        self.clock = clock
        try Self.migrator.migrate(database)
    }

    /// The journal mode in force (`wal`), for diagnostics and tests.
    public func journalMode() async throws -> String {
        try readNow { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE clients (client_id TEXT PRIMARY KEY NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, username TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE TABLE signing_keys (kid TEXT PRIMARY KEY NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE TABLE authorization_codes (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);
                CREATE TABLE sessions (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE INDEX sessions_expiry ON sessions(expires_at);
                CREATE TABLE pending_authorizations (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE INDEX pending_authorizations_expiry ON pending_authorizations(expires_at);
                """)
        }
        migrator.registerMigration("v2-token-status") { db in
            try db.execute(sql: """
                CREATE TABLE revoked_tokens (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL);
                CREATE INDEX revoked_tokens_expiry ON revoked_tokens(expires_at);
                CREATE TABLE used_codes (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE INDEX used_codes_expiry ON used_codes(expires_at);
                """)
        }
        migrator.registerMigration("v3-grants") { db in
            try db.execute(sql: """
                CREATE TABLE grants (id TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                CREATE INDEX grants_expiry ON grants(expires_at);
                CREATE TABLE refresh_tokens (key TEXT PRIMARY KEY NOT NULL, grant_id TEXT NOT NULL, expires_at REAL NOT NULL);
                CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
                """)
        }
        migrator.registerMigration("v4-consents") { db in
            try db.execute(sql: "CREATE TABLE consents (key TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL)")
        }
        migrator.registerMigration("v5-registration-fingerprint") { db in
            try db.execute(sql: """
                ALTER TABLE clients ADD COLUMN fingerprint TEXT;
                CREATE INDEX clients_fingerprint ON clients(fingerprint);
                """)
        }
        migrator.registerMigration("v6-grant-owners") { db in
            // Offboarding lists a user's or a client's grants: index them by owner.
            try db.execute(sql: """
                ALTER TABLE grants ADD COLUMN subject TEXT;
                ALTER TABLE grants ADD COLUMN client_id TEXT;
                UPDATE grants SET subject = json_extract(record, '$.subject'), client_id = json_extract(record, '$.clientID');
                CREATE INDEX grants_subject ON grants(subject);
                CREATE INDEX grants_client ON grants(client_id);
                """)
        }
        return migrator
    }

    private func encode(_ value: some Encodable) throws -> String {
        try StoredRecordCoding.encode(value)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try StoredRecordCoding.decode(type, text)
    }

    /// Runs a single-statement read on GRDB's reader pool, from the calling thread, outside a
    /// transaction.
    ///
    /// Why not `await database.read`: every flow does four primary-key lookups, and the async
    /// variant hops to a dispatch queue and back and wraps each SELECT in BEGIN/COMMIT. One
    /// SELECT is atomic by itself, so the transaction buys nothing here. In WAL mode a reader never
    /// waits for the writer, and the reader pool (5) is wider than Swift's cooperative pool (one
    /// thread per core), so the call never blocks on a lock: it only reads pages, normally from
    /// cache. Measured with Benchmarks/bench-flows: see docs/operations.md. Writes still go through
    /// GRDB's async writer queue, since a commit can wait for a checkpoint's fsync.
    private func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        try database.unsafeRead(body)
    }

    private var nowSeconds: Double { clock.now().timeIntervalSince1970 }

    private func expiry(_ ttl: Duration) -> Double { nowSeconds + ttl.timeInterval }

    /// Deletes expired ephemeral rows every 256th write, inside the caller's transaction.
    private func sweepIfDue(_ db: Database, now: Double) throws {
        let due = writesSinceSweep.withLock { count -> Bool in
            count += 1
            if count >= 256 { count = 0; return true }
            return false
        }
        guard due else { return }
        for table in ["authorization_codes", "sessions", "pending_authorizations", "used_codes"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE expires_at <= ?", arguments: [now])
        }
        // A revoked token stays listed until it would have expired anyway; a family until its absolute end.
        for table in ["revoked_tokens", "grants", "refresh_tokens"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE expires_at <= ?", arguments: [now])
        }
    }

    // MARK: ClientStore

    /// An `UPDATE`, which touches no row once the client was removed.
    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        let text = try encode(client)
        return try await database.write { db in
            try db.execute(sql: "UPDATE clients SET record = ? WHERE client_id = ?", arguments: [text, client.clientID.rawValue])
            return db.changesCount > 0
        }
    }

    public func client(withID clientID: ClientID) async throws -> Client? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM clients WHERE client_id = ?"), arguments: [clientID.rawValue])
        }
        return try text.map { try decode(Client.self, $0) }
    }

    public func save(_ client: Client) async throws {
        let text = try encode(client)
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO clients (client_id, created_at, record, fingerprint) VALUES (?, ?, ?, ?)",
                           arguments: [client.clientID.rawValue, client.createdAt.timeIntervalSince1970, text, client.registrationFingerprint])
        }
    }

    public func removeClient(withID clientID: ClientID) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM clients WHERE client_id = ?", arguments: [clientID.rawValue])
            return db.changesCount > 0
        }
    }

    public func allClients() async throws -> [Client] {
        let texts = try readNow { db in
            try String.fetchAll(db, sql: "SELECT record FROM clients ORDER BY created_at, client_id")
        }
        return try texts.map { try decode(Client.self, $0) }
    }

    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM clients WHERE fingerprint = ? ORDER BY created_at LIMIT 1"),
                                arguments: [fingerprint])
        }
        return try text.map { try decode(Client.self, $0) }
    }

    // MARK: AuthorizationCodeStore

    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        let text = try encode(record)
        let now = nowSeconds
        let expiresAt = expiry(ttl)
        try await database.write { db in
            // One statement: insert, or take over the key only if its previous holder has expired.
            try db.cachedStatement(sql: """
                INSERT INTO authorization_codes (key, expires_at, record) VALUES (?, ?, ?)
                ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at, record = excluded.record
                WHERE authorization_codes.expires_at <= ?
                """).execute(arguments: [StorageKey.authorizationCode(hash: codeHash), expiresAt, text, now])
            guard db.changesCount == 1 else { throw StorageError.duplicateKey }
            try sweepIfDue(db, now: now)
        }
    }

    /// One statement, `DELETE … RETURNING`, inside a write transaction: SQLite serializes
    /// writers, so of N concurrent consumers exactly one sees the row (never find-then-delete).
    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        let now = nowSeconds
        let row = try await database.write { db in
            try Row.fetchOne(db.cachedStatement(sql: "DELETE FROM authorization_codes WHERE key = ? RETURNING expires_at, record"),
                             arguments: [StorageKey.authorizationCode(hash: codeHash)])
        }
        guard let row, (row["expires_at"] as Double) > now else { return nil }
        return try decode(AuthorizationCodeRecord.self, row["record"])
    }

    // MARK: UserStore

    public func user(named username: String) async throws -> User? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM users WHERE username = ?"), arguments: [username])
        }
        return try text.map { try decode(User.self, $0) }
    }

    public func user(withID id: String) async throws -> User? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM users WHERE id = ?"), arguments: [id])
        }
        return try text.map { try decode(User.self, $0) }
    }

    public func save(_ user: User) async throws {
        let text = try encode(user)
        try await database.write { db in
            do {
                try db.execute(sql: """
                    INSERT INTO users (id, username, created_at, record) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET username = excluded.username, record = excluded.record
                    """, arguments: [user.id, user.username, user.createdAt.timeIntervalSince1970, text])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StorageError.duplicateUsername
            }
        }
    }

    public func removeUser(named username: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM users WHERE username = ?", arguments: [username])
            return db.changesCount > 0
        }
    }

    public func allUsers() async throws -> [User] {
        let texts = try readNow { db in
            try String.fetchAll(db, sql: "SELECT record FROM users ORDER BY created_at, username")
        }
        return try texts.map { try decode(User.self, $0) }
    }

    // MARK: SigningKeyStore

    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        let texts = try readNow { db in
            try String.fetchAll(db, sql: "SELECT record FROM signing_keys ORDER BY created_at, kid")
        }
        return try texts.map { try decode(SigningKeyRecord.self, $0) }
    }

    public func save(_ key: SigningKeyRecord) async throws {
        let text = try encode(key)
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO signing_keys (kid, created_at, record) VALUES (?, ?, ?)",
                           arguments: [key.kid, key.createdAt.timeIntervalSince1970, text])
        }
    }

    // MARK: InteractionStore

    private func put(_ table: String, key: String, record: some Encodable, ttl: Duration) async throws {
        let text = try encode(record)
        let now = nowSeconds
        let expiresAt = expiry(ttl)
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(table) (key, expires_at, record) VALUES (?, ?, ?)")
                .execute(arguments: [key, expiresAt, text])
            try sweepIfDue(db, now: now)
        }
    }

    private func get<T: Decodable>(_ type: T.Type, _ table: String, key: String) async throws -> T? {
        let now = nowSeconds
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM \(table) WHERE key = ? AND expires_at > ?"), arguments: [key, now])
        }
        return try text.map { try decode(type, $0) }
    }

    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        try await put("sessions", key: StorageKey.session(hash: key), record: session, ttl: ttl)
    }

    public func session(key: String) async throws -> BrowserSession? {
        try await get(BrowserSession.self, "sessions", key: StorageKey.session(hash: key))
    }

    public func deleteSession(key: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE key = ?", arguments: [StorageKey.session(hash: key)])
        }
    }

    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        try await put("pending_authorizations", key: StorageKey.pendingAuthorization(hash: key), record: pending, ttl: ttl)
    }

    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await get(PendingAuthorization.self, "pending_authorizations", key: StorageKey.pendingAuthorization(hash: key))
    }

    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        let now = nowSeconds
        let row = try await database.write { db in
            try Row.fetchOne(db.cachedStatement(sql: "DELETE FROM pending_authorizations WHERE key = ? RETURNING expires_at, record"),
                             arguments: [StorageKey.pendingAuthorization(hash: key)])
        }
        guard let row, (row["expires_at"] as Double) > now else { return nil }
        return try decode(PendingAuthorization.self, row["record"])
    }

    // MARK: TokenStatusStore

    public func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        let now = nowSeconds
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO revoked_tokens (key, expires_at) VALUES (?, ?)")
                .execute(arguments: [StorageKey.revokedToken(id: tokenID), expiresAt.timeIntervalSince1970])
            try sweepIfDue(db, now: now)
        }
    }

    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        try readNow { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM revoked_tokens WHERE key = ?"),
                              arguments: [StorageKey.revokedToken(id: tokenID)]) ?? false
        }
    }

    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try await put("used_codes", key: StorageKey.usedCode(hash: codeHash), record: marker, ttl: ttl)
    }

    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try await get(UsedCodeMarker.self, "used_codes", key: StorageKey.usedCode(hash: codeHash))
    }

    // MARK: GrantStore

    public func createGrant(_ grant: Grant) async throws {
        let text = try encode(grant)
        let now = nowSeconds
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT INTO grants (id, expires_at, record, subject, client_id) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [grant.id, grant.expiresAt.timeIntervalSince1970, text, grant.subject, grant.clientID.rawValue])
            try db.cachedStatement(sql: "INSERT INTO refresh_tokens (key, grant_id, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [StorageKey.refreshToken(hash: grant.currentTokenHash), grant.id, grant.expiresAt.timeIntervalSince1970])
            try sweepIfDue(db, now: now)
        }
    }

    public func grant(withID id: String) async throws -> Grant? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM grants WHERE id = ?"), arguments: [id])
        }
        return try text.map { try decode(Grant.self, $0) }
    }

    /// One write transaction: SQLite serializes writers, so the read-decide-write of a family
    /// never interleaves with another (SECURITY.md §5).
    public func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        try await database.write { db in
            guard let id = try String.fetchOne(db.cachedStatement(sql: "SELECT grant_id FROM refresh_tokens WHERE key = ?"),
                                               arguments: [StorageKey.refreshToken(hash: refreshTokenHash)]) else { return nil }
            return try self.apply(body, to: id, in: db)
        }
    }

    public func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        try await database.write { db in try self.apply(body, to: id, in: db) }
    }

    public func grants(of owner: GrantOwner) async throws -> [Grant] {
        let now = nowSeconds
        let texts = try readNow { db -> [String] in
            switch owner {
            case .everyone:
                return try String.fetchAll(db, sql: "SELECT record FROM grants WHERE expires_at > ? ORDER BY rowid", arguments: [now])
            case .user(let id):
                return try String.fetchAll(db, sql: "SELECT record FROM grants WHERE subject = ? AND expires_at > ? ORDER BY rowid",
                                           arguments: [id, now])
            case .client(let clientID):
                return try String.fetchAll(db, sql: "SELECT record FROM grants WHERE client_id = ? AND expires_at > ? ORDER BY rowid",
                                           arguments: [clientID.rawValue, now])
            }
        }
        return try texts.map { try decode(Grant.self, $0) }
    }

    private func apply<Result: Sendable>(_ body: (inout Grant) -> GrantUpdate<Result>, to id: String, in db: Database) throws -> Result? {
        guard let text = try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM grants WHERE id = ?"), arguments: [id]) else {
            return nil
        }
        var grant = try decode(Grant.self, text)
        switch body(&grant) {
        case .keep(let result):
            return result
        case .save(let result, let newTokenHash):
            try db.cachedStatement(sql: "UPDATE grants SET record = ? WHERE id = ?").execute(arguments: [try encode(grant), id])
            if let newTokenHash {
                try db.cachedStatement(sql: "INSERT INTO refresh_tokens (key, grant_id, expires_at) VALUES (?, ?, ?)")
                    .execute(arguments: [StorageKey.refreshToken(hash: newTokenHash), id, grant.expiresAt.timeIntervalSince1970])
            }
            return result
        }
    }

    // MARK: ConsentStore

    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM consents WHERE key = ?"),
                                arguments: [StorageKey.consent(userID: userID, clientID: clientID, resource: resource)])
        }
        return try text.map { try decode(ConsentRecord.self, $0) }
    }

    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        let text = try encode(record)
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO consents (key, record) VALUES (?, ?)")
                .execute(arguments: [StorageKey.consent(userID: userID, clientID: clientID, resource: resource), text])
        }
    }
}
