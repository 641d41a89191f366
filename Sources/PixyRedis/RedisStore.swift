import Foundation
public import PixyCore
public import PixyRESP
public import ServiceLifecycle

/// Every Pixy store on one Redis, so many server processes share state.
///
/// Layout: one key per object, named by kind (`auth:code:<sha256>`, `auth:client:<id>`,
/// `auth:grant:<id>`, …; see ``RedisKeys``), behind an optional global prefix so several Pixy
/// deployments can share one Redis. Ephemeral objects carry a Redis TTL and their own `exp`,
/// checked on read against the injected clock. Durable objects (clients, users, keys, grants)
/// carry no TTL but a grant's absolute end, so Redis must never evict (see
/// ``RedisStore/inspectDeployment()``).
///
/// Atomicity, without any lock held across a round trip:
/// - a code is consumed with `GETDEL`; pending authorizations likewise;
/// - a grant update reads the grant, lets the pure decision (e.g. `RefreshTokenFamily.present`)
///   run in Swift, and writes back with a Lua compare-and-set that succeeds only if the grant is
///   still byte-for-byte what was read; otherwise the decision runs again on the newer grant.
///   Concurrent refreshes therefore serialize exactly as on SQLite and never fork a family.
///
/// Not for Redis Cluster: scripts touch several keys that may live in different slots.
///
/// Each storage protocol is implemented in its own extension (`RedisStore+Clients.swift`,
/// `RedisStore+Codes.swift`, …); the keys are in ``RedisKeys``, the scripts in `RedisScripts.swift`.
public final class RedisStore: Service {
    /// The connections.
    public let pool: RedisConnectionPool
    /// The key layout.
    public let keys: RedisKeys
    /// Decoded client and user records by their stored text (``DecodedRecordCache``): every flow
    /// reads the same ones, and JSON decoding was the largest cost of reading them.
    let clientRecords = DecodedRecordCache<Client>()
    let userRecords = DecodedRecordCache<User>()
    private let clock: any WallClock

    /// A store on the Redis `configuration` names, with every key under `prefix`.
    public init(configuration: RedisConfiguration, prefix: String = "", clock: any WallClock = SystemWallClock()) {
        pool = RedisConnectionPool(configuration: configuration)
        keys = RedisKeys(prefix: prefix)
        self.clock = clock
    }

    /// Closes the connections on graceful shutdown.
    public func run() async throws {
        try await pool.run()
    }

    // MARK: Plumbing, shared by the extensions (one per storage protocol)

    /// Sends a command, turning "Redis is unreachable" into ``StorageError/unavailable(_:)`` so
    /// endpoints answer 503 (docs/security.md §10: fail closed).
    @discardableResult
    func send(_ arguments: [String]) async throws -> RESPValue {
        do {
            return try await pool.send(arguments)
        } catch let error as RedisError {
            throw StorageError(redis: error)
        }
    }

    /// Runs a script, mapping its failures as ``send(_:)`` does; `replyCodes` turns a script's
    /// own error replies (`redis.error_reply`) into the given storage errors.
    func run(
        _ script: RedisScript, keys: [String], arguments: [String],
        replyCodes: [String: StorageError] = [:]
    ) async throws -> RESPValue {
        do {
            return try await script.run(on: pool, keys: keys, arguments: arguments)
        } catch let error as RedisError {
            if let replyCode = error.replyCode, let mapped = replyCodes[replyCode] { throw mapped }
            throw StorageError(redis: error)
        }
    }

    /// `MULTI`, the commands, `EXEC`, written as one batch; throws unless every command ran.
    func transaction(_ commands: [[String]]) async throws {
        let replies: [RESPValue]
        do {
            replies = try await pool.send(batch: [["MULTI"]] + commands + [["EXEC"]])
        } catch let error as RedisError {
            throw StorageError(redis: error)
        }
        for reply in replies {
            if case .error(let message) = reply { throw StorageError(redis: .serverError(message)) }
        }
        guard case .array(let results?) = replies.last, results.count == commands.count else {
            throw StorageError.failed("redis: transaction aborted")
        }
        for result in results {
            if case .error(let message) = result { throw StorageError(redis: .serverError(message)) }
        }
    }

    func encode(_ value: some Encodable) throws -> String {
        try StoredRecordCoding.encode(value)
    }

    /// A stored record through `cache`; one that does not decode is ``StorageError/Code/corruptRecord``.
    func decode<T>(_ text: String, through cache: DecodedRecordCache<T>) throws -> T {
        do {
            return try cache.decode(text)
        } catch {
            throw StorageError.corruptRecord("redis: undecodable \(T.self): \(error)")
        }
    }

    /// A stored record; one that does not decode is ``StorageError/Code/corruptRecord``.
    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try StoredRecordCoding.decode(type, text)
        } catch {
            throw StorageError.corruptRecord("redis: undecodable \(T.self): \(error)")
        }
    }

    func get(_ key: String) async throws -> String? {
        try await send(["GET", key]).string
    }

    var now: Date { clock.now() }

    /// Milliseconds from now (on the injected clock) until `date`; at least 1, since Redis
    /// refuses a zero TTL.
    func milliseconds(until date: Date) -> String {
        String(max(1, Int((date.timeIntervalSince(now) * 1000).rounded(.up))))
    }

    func milliseconds(_ ttl: Duration) -> String {
        String(max(1, Int((ttl.timeInterval * 1000).rounded(.up))))
    }

    /// An ephemeral value's envelope: the record and its own expiry, checked on every read so an
    /// entry Redis has not expired yet (or whose TTL a restore reset) is still never honoured late.
    private struct Expiring<Record: Codable>: Codable {
        var exp: Double
        var record: Record
    }

    func putExpiring(_ record: some Codable, key: String, ttl: Duration, onlyIfAbsent: Bool = false) async throws -> Bool {
        let text = try encode(Expiring(exp: now.addingTimeInterval(ttl.timeInterval).timeIntervalSince1970, record: record))
        var command = ["SET", key, text, "PX", milliseconds(ttl)]
        if onlyIfAbsent { command.append("NX") }
        return try await !send(command).isNull
    }

    func expiring<Record: Codable>(_ type: Record.Type, from text: String?) throws -> Record? {
        guard let text else { return nil }
        let envelope = try decode(Expiring<Record>.self, text)
        return envelope.exp > now.timeIntervalSince1970 ? envelope.record : nil
    }

    /// Values of `MGET` over `keys` in chunks, skipping missing ones.
    func values(of keys: [String]) async throws -> [String] {
        var texts: [String] = []
        var start = 0
        while start < keys.count {
            let chunk = Array(keys[start..<min(start + 256, keys.count)])
            guard case .array(let replies?) = try await send(["MGET"] + chunk) else { throw StorageError.failed("redis: MGET reply") }
            texts += replies.compactMap(\.string)
            start += chunk.count
        }
        return texts
    }

    func members(of index: String) async throws -> [String] {
        guard case .array(let replies?) = try await send(["ZRANGE", index, "0", "-1"]) else {
            throw StorageError.failed("redis: ZRANGE reply")
        }
        return replies.compactMap(\.string)
    }
}
