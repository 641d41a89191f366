public import Foundation
public import PixyCore
public import ServiceLifecycle
import Crypto

/// Pixy's short-lived state on Memcached: authorization codes and used-code markers, pending
/// sign-ins, browser sessions, login counters and rate-limit buckets (an
/// ``EphemeralStorageBackend``). Never anything durable: Memcached may evict any item and loses
/// everything on restart, which for these kinds can only end a sign-in early or make a code
/// unusable, never make one usable twice (docs/operations.md, Memcached).
///
/// Atomicity, with no lock:
/// - a code (and a pending sign-in) is consumed with `mg <key> v c` then `md <key> C<cas>`: only
///   the caller whose conditional delete answers `HD` owns the record; every other concurrent
///   caller gets `NF` or `EX` and nothing;
/// - a code is stored with `ms … ME` (add), so a key that exists is never overwritten;
/// - counters and buckets are read with their CAS value, changed in Swift, and written back with
///   `ms … C<cas>` (or `ME` for a new one); a lost race reads again.
///
/// Every value is JSON with its own expiry on the injected clock, checked on read, beside
/// Memcached's TTL (whole seconds, at most 30 days: longer ones Memcached reads as a date).
public final class MemcachedStore: Service {
    /// The servers.
    public let client: MemcachedClient
    /// Put before every key (`pixy:`; tests give each store its own, to share one server).
    public let prefix: String
    let clock: any WallClock

    /// A store on the servers `configuration` names.
    public init(configuration: MemcachedConfiguration, prefix: String = "pixy:", clock: any WallClock = SystemWallClock()) {
        precondition(prefix.utf8.count <= 64 && prefix.utf8.allSatisfy { (0x21...0x7E).contains($0) }, "a key prefix is printable ASCII")
        client = MemcachedClient(configuration: configuration)
        self.prefix = prefix
        self.clock = clock
    }

    /// Closes the connections on graceful shutdown.
    public func run() async throws {
        try await client.run()
    }

    /// Refuses servers this store cannot be correct on: older than 1.6.13 (whose conditional
    /// delete ignores the CAS value, so two redemptions of one code could both succeed) or with
    /// CAS disabled (`-C`). Throws ``StorageError/Code/unavailable`` when a server cannot be
    /// reached, ``StorageError/Code/failed`` with the reason when one is unfit.
    public func checkServers() async throws -> [MemcachedClient.ServerReport] {
        let reports = try await mapped { try await self.client.inspect() }
        for report in reports {
            guard report.supportsConditionalDelete else {
                throw StorageError.failed(
                    "memcached \(report.server) is version \(report.version): Pixy needs 1.6.13 or later (conditional delete, md … C<cas>)")
            }
            guard report.hasCAS else {
                throw StorageError.failed("memcached \(report.server) runs with CAS disabled (-C): Pixy needs CAS to consume codes once")
            }
        }
        return reports
    }

    // MARK: Plumbing

    /// `key` as a Memcached key: the prefix and the key when it is printable ASCII without spaces
    /// and short enough, otherwise the prefix and the SHA-256 of the key (Memcached keys are at
    /// most 250 bytes, with no spaces or control characters). The two forms never collide: `k:`
    /// and `h:` keep them apart.
    public func itemKey(_ key: String) -> String {
        let isPlain = key.utf8.count <= 180 && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
        if isPlain { return "\(prefix)k:\(key)" }
        return "\(prefix)h:" + SHA256.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Runs `body`, turning Memcached failures into ``StorageError``s: unreachable, a broken
    /// connection or a `SERVER_ERROR` (full, with `-M`) is ``StorageError/Code/unavailable`` (503,
    /// fail closed, recover by itself); a refusal is ``StorageError/Code/failed``.
    func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as MemcachedError {
            if error.code == .timedOut { throw StorageError.timedOut("memcached: \(error.description)") }
            throw StorageError(code: error.isTemporary ? .unavailable : .failed, reason: "memcached: \(error.description)")
        }
    }

    var now: Date { clock.now() }

    /// Memcached TTL for `ttl`: whole seconds, rounded up, between 1 s and 30 days.
    static func seconds(_ ttl: Duration) -> Int {
        min(2_592_000, max(1, Int(ttl.timeInterval.rounded(.up))))
    }

    private struct Expiring<Record: Codable>: Codable {
        var exp: Double
        var record: Record
    }

    func envelope(_ record: some Codable, ttl: Duration) throws -> [UInt8] {
        Array(
            try StoredRecordCoding.encode(Expiring(exp: now.addingTimeInterval(ttl.timeInterval).timeIntervalSince1970, record: record))
                .utf8)
    }

    func unwrap<Record: Codable>(_ type: Record.Type, _ bytes: [UInt8]?) throws -> Record? {
        guard let bytes else { return nil }
        let envelope: Expiring<Record>
        do {
            envelope = try StoredRecordCoding.decode(Expiring<Record>.self, String(decoding: bytes, as: UTF8.self))
        } catch {
            throw StorageError.corruptRecord("memcached: undecodable \(Record.self): \(error)")
        }
        return envelope.exp > now.timeIntervalSince1970 ? envelope.record : nil
    }

    func put(_ record: some Codable, key: String, ttl: Duration) async throws {
        let bytes = try envelope(record, ttl: ttl)
        _ = try await mapped { try await client.store(itemKey(key), bytes, ttl: Self.seconds(ttl)) }
    }

    func read<Record: Codable>(_ type: Record.Type, key: String) async throws -> Record? {
        try unwrap(type, try await mapped { try await client.get(itemKey(key)) }?.value)
    }

    /// `mg … v c`, then `md … C<cas>`: the record only if this call's conditional delete removed it.
    func take<Record: Codable>(_ type: Record.Type, key: String) async throws -> Record? {
        let item = itemKey(key)
        return try await mapped {
            guard let (value, cas) = try await client.get(item) else { return nil }
            guard try await client.delete(item, cas: cas) else { return nil }
            return try unwrap(type, value)
        }
    }

    /// Reads `key` with its CAS value, lets `change` compute the new value (or `nil` to leave it),
    /// and writes it back only if nobody changed the item meanwhile; otherwise reads again. A
    /// missing item is added, which fails likewise if someone else added it first.
    func update<Result>(
        key: String, ttl: (_ value: String) -> Int, _ change: (_ current: String?) throws -> (value: String?, result: Result)
    ) async throws -> Result {
        let item = itemKey(key)
        return try await mapped {
            for _ in 0..<64 {
                let current = try await client.get(item)
                let (value, result) = try change(current.map { String(decoding: $0.value, as: UTF8.self) })
                guard let value else { return result }
                let mode: MemcachedClient.StoreMode = current.map { .compareAndSwap($0.cas) } ?? .add
                if try await client.store(item, Array(value.utf8), ttl: ttl(value), mode: mode) == .stored { return result }
            }
            throw StorageError.unavailable("memcached: \(key) kept changing under 64 attempts")
        }
    }
}

/// Closes connections when opening the stores fails half-way.
extension MemcachedStore {
    /// Closes every connection.
    public func close() { client.close() }
}
