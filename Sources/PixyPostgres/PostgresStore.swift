public import Foundation
public import Logging
public import PixyCore
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Every Pixy store on PostgreSQL, so many server processes share durable state.
///
/// Tables are named `pixy_*` (``PostgresMigrations``); each row holds one record as JSON
/// (``StoredRecordCoding``), plus the columns queries select or order by. Short-lived state
/// (codes, sessions, pending sign-ins, counters) has tables too, used when no ephemeral store is
/// named; expired rows are swept every 256th write, so nothing grows without bound.
///
/// Atomicity, with no lock held across a round trip:
/// - a code or a pending sign-in is consumed with one `DELETE … RETURNING`;
/// - a grant update reads the grant, lets the pure decision run in Swift, and writes back with one
///   conditional `UPDATE … WHERE record = <what was read>`; if another update won meanwhile, the
///   decision runs again on the newer grant. Concurrent refreshes therefore serialize as on
///   SQLite, never fork a family, and never meet a serialization error (READ COMMITTED, no
///   explicit transaction).
///
/// Every operation has a deadline: while PostgreSQL is unreachable, calls fail with
/// ``StorageError/Code/unavailable`` (503) instead of waiting for the pool, and the pool
/// reconnects by itself when it is back (docs/security.md §10).
///
/// The connection pool runs from ``init(url:clock:logger:operationTimeout:maximumConnections:)``
/// until ``close()``; as a ServiceLifecycle service, `run()` closes it on graceful shutdown.
public final class PostgresStore: Service {
    /// The connection pool.
    public let client: PostgresClient
    /// How long one operation may wait for a connection and its reply.
    public let operationTimeout: Duration
    /// Decoded client and user records by their stored text (``DecodedRecordCache``): every flow
    /// reads the same ones, and JSON decoding was the largest cost of reading them.
    let clientRecords = DecodedRecordCache<Client>()
    let userRecords = DecodedRecordCache<User>()
    let clock: any WallClock
    let logger: Logger
    private let writesSinceSweep = Mutex(0)
    private let sweeping = Mutex(false)
    private let pool = Mutex<Task<Void, Never>?>(nil)

    /// A store on the server `url` names; its connection pool starts at once, in a task of its own,
    /// and runs until ``close()``.
    public init(
        url: PostgresURL, clock: any WallClock = SystemWallClock(), logger: Logger, operationTimeout: Duration = .seconds(5),
        maximumConnections: Int = 16
    ) {
        var configuration = url.configuration
        configuration.options.maximumConnections = maximumConnections
        // A backstop beside the client-side deadline: a statement the deadline abandoned does not
        // hold its connection (and locks) for longer than this. Migrations lift it for themselves.
        configuration.options.additionalStartupParameters.append(("statement_timeout", "15s"))
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.clock = clock
        self.logger = logger
        self.operationTimeout = operationTimeout
        let client = client
        pool.withLock { $0 = Task { await client.run() } }
    }

    /// Waits for graceful shutdown, then closes the pool.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }

    /// Stops the connection pool; later operations fail as unavailable.
    public func close() {
        pool.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    /// Applies the schema migrations that have not run and returns their names (empty when the
    /// schema is up to date). Safe to run from several processes at once: they take turns.
    /// Gives up after 15 s (PostgreSQL unreachable, or a TLS or login problem the pool retries).
    public func migrate() async throws -> [String] {
        let client = client
        let logger = logger
        return try await perform("migrate", timeout: .seconds(15)) { try await PostgresMigrations.apply(on: client, logger: logger) }
    }

    // MARK: Plumbing, shared by the extensions (one per storage protocol)

    /// Runs `body` with a deadline, mapping PostgreSQL's failures to ``StorageError``s: unreachable
    /// (or slower than ``operationTimeout``) is ``StorageError/Code/unavailable``; a unique
    /// violation is ``StorageError/duplicateKey``; anything else the server refuses is
    /// ``StorageError/Code/failed``.
    func perform<T: Sendable>(
        _ what: String, timeout: Duration? = nil, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            return try await withDeadline(timeout ?? operationTimeout, body)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(postgres: error, during: what)
        }
    }

    /// Rows of `query`, each turned into a value by `decode`.
    func rows<Row: Sendable>(
        _ query: PostgresQuery, _ what: String, _ decode: @escaping @Sendable (PostgresRow) throws -> Row
    ) async throws -> [Row] {
        let client = client
        return try await perform(what) {
            var result: [Row] = []
            for try await row in try await client.query(query) { result.append(try decode(row)) }
            return result
        }
    }

    /// Runs `query` and returns how many rows it returned (a `RETURNING 1` counts affected rows).
    @discardableResult
    func execute(_ query: PostgresQuery, _ what: String) async throws -> Int {
        let client = client
        return try await perform(what) {
            var count = 0
            for try await _ in try await client.query(query) { count += 1 }
            return count
        }
    }

    /// The single text column of each row of `query`.
    func texts(_ query: PostgresQuery, _ what: String) async throws -> [String] {
        try await rows(query, what) { try $0.decode(String.self) }
    }

    func encode(_ value: some Encodable) throws -> String {
        try StoredRecordCoding.encode(value)
    }

    /// A stored record through `cache`; one that does not decode is ``StorageError/Code/corruptRecord``.
    func decode<T>(_ text: String, through cache: DecodedRecordCache<T>) throws -> T {
        do {
            return try cache.decode(text)
        } catch {
            throw StorageError.corruptRecord("postgres: undecodable \(T.self): \(error)")
        }
    }

    /// A stored record; one that does not decode is ``StorageError/Code/corruptRecord``.
    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try StoredRecordCoding.decode(type, text)
        } catch {
            throw StorageError.corruptRecord("postgres: undecodable \(T.self): \(error)")
        }
    }

    var nowSeconds: Double { clock.now().timeIntervalSince1970 }

    /// Whether PostgreSQL can hold `value`: text there cannot contain U+0000, so a lookup by such
    /// a value (a `client_id` of `%00` in a request) finds nothing instead of failing as a server
    /// error, as on the other stores.
    func isStorable(_ value: String) -> Bool {
        !value.utf8.contains(0)
    }

    /// Starts deleting expired rows every 256th write (counted, so the cost is spread and
    /// bounded), in the background: the write that triggers it has committed, and must not be
    /// reported as failed because a sweep did. At most one sweep runs at a time.
    func sweepIfDue() async throws {
        let due = writesSinceSweep.withLock { count -> Bool in
            count += 1
            if count >= 256 { count = 0; return true }
            return false
        }
        guard due,
            sweeping.withLock({ running in
                defer { running = true }; return !running
            })
        else { return }
        Task {
            defer { self.sweeping.withLock { $0 = false } }
            do {
                try await self.sweep()
            } catch {
                self.logger.warning("postgres: sweeping expired rows failed; retried after later writes", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Deletes every expired row: ephemeral records, revoked-token entries and families past
    /// their absolute end, login windows that ended, and rate-limit buckets that are full again.
    public func sweep() async throws {
        let now = nowSeconds
        for table in PostgresMigrations.expiringTables {
            try await execute("DELETE FROM \(unescaped: table) WHERE expires_at <= \(now)", "sweep \(table)")
        }
        try await execute("DELETE FROM pixy_login_failures WHERE ends_at <= \(now)", "sweep login counters")
        try await execute("DELETE FROM pixy_rate_buckets WHERE full_at <= \(now)", "sweep rate buckets")
    }

    /// Inserts or replaces an expiring record in `table` (one of the ephemeral tables).
    func put(_ table: String, key: String, record: some Encodable, ttl: Duration) async throws {
        let text = try encode(record)
        let expiresAt = nowSeconds + ttl.timeInterval
        try await execute(
            """
            INSERT INTO \(unescaped: table) (key, expires_at, record) VALUES (\(key), \(expiresAt), \(text))
            ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, record = excluded.record
            """, "write \(table)")
        try await sweepIfDue()
    }

    /// An expiring record from `table`, if present and not expired.
    func get<T: Decodable>(_ type: T.Type, _ table: String, key: String) async throws -> T? {
        let now = nowSeconds
        let found = try await texts("SELECT record FROM \(unescaped: table) WHERE key = \(key) AND expires_at > \(now)", "read \(table)")
        return try found.first.map { try decode(type, $0) }
    }

    /// Removes and returns an expiring record in one statement: of concurrent callers, only the
    /// one whose `DELETE` removed the row gets it.
    func take<T: Decodable>(_ type: T.Type, _ table: String, key: String) async throws -> T? {
        let now = nowSeconds
        let found = try await rows(
            "DELETE FROM \(unescaped: table) WHERE key = \(key) RETURNING expires_at, record", "consume from \(table)"
        ) { try $0.decode((Double, String).self) }
        guard let (expiresAt, text) = found.first, expiresAt > now else { return nil }
        return try decode(type, text)
    }
}

/// Runs `body`, or throws ``StorageError/timedOut(_:)`` once `limit` passes (give or take
/// ``DeadlineWatch/tick``), cancelling it.
///
/// Why not a task group: a group waits for its children, and a query stuck on a dead connection
/// does not end on cancellation, so the caller would wait anyway. Why ``DeadlineWatch`` and not a
/// timer per operation: arming it is a dictionary write under a lock, where a sleeping timer task
/// and a task to wait for the body cost two more tasks and a dispatch timer per query
/// (docs/performance.md, step 7).
package func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let waiter = DeadlineWaiter<T>()
    let work = Task {
        do {
            waiter.resume(with: .success(try await body()))
        } catch {
            waiter.resume(with: .failure(error))
        }
    }
    let alarm = DeadlineWatch.shared.arm(at: .now + limit) {
        work.cancel()
        waiter.resume(with: .failure(StorageError.timedOut("postgres: no answer within \(limit)")))
    }
    defer { DeadlineWatch.shared.disarm(alarm) }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in waiter.set(continuation) }
    } onCancel: {
        work.cancel()
    }
}

/// The deadlines of operations in flight, checked by one task every ``tick`` while any is armed
/// (it stops when none is, and starts again with the next). What it holds is bounded by the
/// operations in flight: each is disarmed when it ends, or removed when its deadline fires.
package final class DeadlineWatch: Sendable {
    /// The watch every PostgreSQL operation uses.
    package static let shared = DeadlineWatch(tick: .milliseconds(50))

    /// How often deadlines are checked: a deadline fires at most this long after it passed.
    package let tick: Duration

    private struct Alarm {
        var deadline: ContinuousClock.Instant
        var expire: @Sendable () -> Void
    }

    private struct State {
        var alarms: [UInt64: Alarm] = [:]
        var lastID: UInt64 = 0
        var isTicking = false
    }

    private let state = Mutex(State())

    /// A watch checking every `tick`.
    package init(tick: Duration) {
        self.tick = tick
    }

    /// Calls `expire` once `deadline` has passed, unless ``disarm(_:)`` comes first; returns the
    /// alarm's identifier.
    package func arm(at deadline: ContinuousClock.Instant, _ expire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, startsTicking) = state.withLock { state -> (UInt64, Bool) in
            state.lastID += 1
            state.alarms[state.lastID] = Alarm(deadline: deadline, expire: expire)
            defer { state.isTicking = true }
            return (state.lastID, !state.isTicking)
        }
        if startsTicking { Task.detached { await self.watch() } }
        return id
    }

    /// How many alarms are armed: those of the operations in flight.
    package var armedCount: Int { state.withLock { $0.alarms.count } }

    /// Removes an alarm that has not fired; nothing if it has.
    package func disarm(_ id: UInt64) {
        state.withLock { _ = $0.alarms.removeValue(forKey: id) }
    }

    /// Whether a task is checking the alarms (none is while none is armed).
    package var isTicking: Bool { state.withLock { $0.isTicking } }

    /// Every `tick`, ``fireDue(at:)``, until none is left.
    private func watch() async {
        while true {
            try? await Task.sleep(for: tick)
            if fireDue(at: .now) { return }
        }
    }

    /// Fires and removes the alarms whose deadline is at or before `now`; `true` when none is left,
    /// and the watch stops ticking (decided under the same lock ``arm(at:_:)`` takes, so an alarm
    /// armed meanwhile either is seen here or starts a new ticker).
    package func fireDue(at now: ContinuousClock.Instant) -> Bool {
        let (due, stops) = state.withLock { state -> ([@Sendable () -> Void], Bool) in
            let dueIDs = state.alarms.compactMap { id, alarm in alarm.deadline <= now ? id : nil }
            let due = dueIDs.compactMap { state.alarms.removeValue(forKey: $0)?.expire }
            if state.alarms.isEmpty { state.isTicking = false }
            return (due, state.alarms.isEmpty)
        }
        for expire in due { expire() }
        return stops
    }
}

/// The continuation ``withDeadline(_:_:)`` resumes once: with the result or the timeout,
/// whichever comes first. A result that comes before the continuation is set (a timer that fired
/// before the caller got to wait) is kept and delivered when it is set, never dropped.
package final class DeadlineWaiter<T: Sendable>: Sendable {
    private enum State {
        case waiting
        case continuation(CheckedContinuation<T, any Error>)
        case early(Result<T, any Error>)
        case done
    }

    private let state = Mutex<State>(.waiting)

    /// A waiter with neither a continuation nor a result yet.
    package init() {}

    /// Sets the continuation; resumes it at once if the result came first.
    package func set(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            switch state {
            case .waiting:
                state = .continuation(continuation)
                return nil
            case .early(let result):
                state = .done
                return result
            case .continuation, .done:
                return nil
            }
        }
        if let early { continuation.resume(with: early) }
    }

    /// Delivers `result` if nothing was delivered before.
    package func resume(with result: Result<T, any Error>) {
        let continuation: CheckedContinuation<T, any Error>? = state.withLock { state in
            switch state {
            case .waiting:
                state = .early(result)
                return nil
            case .continuation(let continuation):
                state = .done
                return continuation
            case .early, .done:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}

extension StorageError {
    /// A PostgreSQL failure as the store reports it (docs/security.md §10: fail closed).
    init(postgres error: any Error, during what: String) {
        if let error = error as? PSQLError {
            if error.code == .server, let state = error.serverInfo?[.sqlState] {
                let message = error.serverInfo?[.message] ?? "server error"
                if state == "23505" {
                    self = StorageError(code: .duplicateKey, reason: "postgres: \(what): \(message)")
                } else if Self.unavailableStates.contains(where: state.hasPrefix) {
                    self = .unavailable("postgres: \(what): \(message) (\(state))")
                } else {
                    self = .failed("postgres: \(what): \(message) (\(state))")
                }
                return
            }
            self = .unavailable("postgres: \(what): \(error.code)")
            return
        }
        if error is PostgresDecodingError {
            self = .corruptRecord("postgres: \(what): \(error)")
            return
        }
        if error is CancellationError {
            self = .unavailable("postgres: \(what): cancelled")
            return
        }
        self = .unavailable("postgres: \(what): \(error)")
    }

    /// SQLSTATE classes and codes that mean "not now" rather than "no": connection exceptions
    /// (08), insufficient resources (53), operator intervention such as a shutdown (57), and
    /// serialization failures or deadlocks (40001, 40P01), which a retry resolves.
    static let unavailableStates = ["08", "53", "57", "40001", "40P01"]
}
