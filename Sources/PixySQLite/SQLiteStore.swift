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
///
/// Each storage protocol is implemented in its own extension (`SQLiteStore+Clients.swift`,
/// `SQLiteStore+Codes.swift`, …); the schema is in `SQLiteMigrations.swift`.
public final class SQLiteStore: Sendable {
    let database: DatabasePool
    /// Decoded client and user records by their stored text (``DecodedRecordCache``): every flow
    /// reads the same ones, and JSON decoding was the largest cost of reading them.
    let clientRecords = DecodedRecordCache<Client>()
    let userRecords = DecodedRecordCache<User>()
    private let clock: any WallClock
    private let writesSinceSweep = Mutex(0)

    /// Opens (creating if needed) the database at `path` and runs migrations.
    public init(path: String, clock: any WallClock = SystemWallClock()) throws {
        database = try Self.open(path: path)
        self.clock = clock
        try Self.migrator.migrate(database)
    }

    /// Opens the database at `path`, runs its migrations, and returns the names of those that
    /// had not run before (`pixy migrate`).
    public static func migrate(path: String) throws -> [String] {
        let database = try open(path: path)
        let before = try database.read { db in try migrator.appliedIdentifiers(db) }
        try migrator.migrate(database)
        return migrator.migrations.filter { !before.contains($0) }
    }

    private static func open(path: String) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // WAL is DatabasePool's default; synchronous=NORMAL is safe with WAL and avoids an
            // fsync per commit.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return try DatabasePool(path: path, configuration: configuration)
    }

    /// The journal mode in force (`wal`), for diagnostics and tests.
    public func journalMode() async throws -> String {
        try readNow { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    func encode(_ value: some Encodable) throws -> String {
        try StoredRecordCoding.encode(value)
    }

    /// A stored record through `cache`; one that does not decode is ``StorageError/Code/corruptRecord``.
    func decode<T>(_ text: String, through cache: DecodedRecordCache<T>) throws -> T {
        do {
            return try cache.decode(text)
        } catch {
            throw StorageError.corruptRecord("sqlite: undecodable \(T.self): \(error)")
        }
    }

    /// A stored record; one that does not decode is ``StorageError/Code/corruptRecord``.
    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try StoredRecordCoding.decode(type, text)
        } catch {
            throw StorageError.corruptRecord("sqlite: undecodable \(T.self): \(error)")
        }
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
    func readNow<T>(_ body: (Database) throws -> T) throws -> T {
        try database.unsafeRead(body)
    }

    var nowSeconds: Double { clock.now().timeIntervalSince1970 }

    func expiry(_ ttl: Duration) -> Double { nowSeconds + ttl.timeInterval }

    /// Deletes expired ephemeral rows every 256th write, inside the caller's transaction.
    func sweepIfDue(_ db: Database, now: Double) throws {
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

    /// Inserts or replaces an expiring record in `table` (sessions, pending authorizations,
    /// used-code markers).
    func put(_ table: String, key: String, record: some Encodable, ttl: Duration) async throws {
        let text = try encode(record)
        let now = nowSeconds
        let expiresAt = expiry(ttl)
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(table) (key, expires_at, record) VALUES (?, ?, ?)")
                .execute(arguments: [key, expiresAt, text])
            try sweepIfDue(db, now: now)
        }
    }

    /// An expiring record from `table`, if present and not expired.
    func get<T: Decodable>(_ type: T.Type, _ table: String, key: String) async throws -> T? {
        let now = nowSeconds
        let text = try readNow { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT record FROM \(table) WHERE key = ? AND expires_at > ?"), arguments: [key, now])
        }
        return try text.map { try decode(type, $0) }
    }
}
