import Crypto
public import ServiceLifecycle
import PixyPipeline
import Synchronization

/// Memcached servers behind a ``HashRing``, spoken to in the meta text protocol
/// (`mg`, `ms`, `md`: each reply a status line, `VA <size>` followed by the value), with a few pipelined
/// connections per server.
///
/// Runs as a ServiceLifecycle service: on graceful shutdown it closes its connections.
public final class MemcachedClient: Sendable, Service {
    /// The servers and timeouts.
    public let configuration: MemcachedConfiguration
    private let ring: HashRing
    private let slots: [[ConnectionSlot<MemcachedConnection>]]
    private let next = Atomic<Int>(0)

    /// A client; connections are opened on demand.
    public init(configuration: MemcachedConfiguration) {
        self.configuration = configuration
        ring = HashRing(names: configuration.servers.map(\.description))
        slots = configuration.servers.map { _ in
            (0..<max(1, configuration.connectionsPerServer)).map { _ in
                ConnectionSlot(initialDelay: configuration.initialReconnectDelay, maximumDelay: configuration.maximumReconnectDelay)
            }
        }
    }

    /// Which server (by index) holds `key`.
    public func server(for key: String) -> Int { ring.server(for: key) }

    /// Sends one command to the server that owns `key`.
    public func send(_ bytes: [UInt8], key: String) async throws -> MemcachedReply {
        try await send(bytes, toServer: ring.server(for: key))
    }

    /// Sends one command to server `index`.
    public func send(_ bytes: [UInt8], toServer index: Int) async throws -> MemcachedReply {
        let serverSlots = slots[index]
        let slot = serverSlots[Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(serverSlots.count))]
        let server = configuration.servers[index]
        let timeout = configuration.commandTimeout
        return try await slot.connection(
            connect: { try await MemcachedConnection.connect(to: server, commandTimeout: timeout) },
            backingOff: { MemcachedError.backingOff("memcached unreachable at \(server); retrying shortly") }
        ).send(bytes)
    }

    // MARK: Meta commands

    /// `mg <key> v c`: the value and its CAS, or `nil` on a miss.
    public func get(_ key: String) async throws -> (value: [UInt8], cas: UInt64)? {
        let reply = try await send(Array("mg \(key) v c\r\n".utf8), key: key)
        switch reply.status {
        case "VA":
            guard let value = reply.value, let cas = reply.cas else { throw MemcachedError.protocolViolation("VA without value or CAS") }
            // CAS 0 is what a server started with -C answers: a compare-and-swap on it always
            // matches, so nothing built on it would be atomic. Refuse rather than race.
            guard cas != 0 else { throw MemcachedError.refused("memcached hands out no CAS values (started with -C?)") }
            return (value, cas)
        case "EN":
            return nil
        default:
            throw MemcachedError.protocolViolation("unexpected reply to mg: \(reply.status)")
        }
    }

    /// How an `ms` ended.
    public enum StoreOutcome: Sendable, Equatable {
        /// `HD`: stored.
        case stored
        /// `NS`: not stored (an add found the key taken).
        case notStored
        /// `EX`: the CAS value did not match (someone changed the item).
        case exists
        /// `NF`: a CAS store found no item.
        case notFound
    }

    /// How a store decides.
    public enum StoreMode: Sendable {
        /// Store unconditionally.
        case set
        /// Store only if the key is absent (`ME`).
        case add
        /// Store only if the item still has this CAS value (`C`).
        case compareAndSwap(UInt64)
    }

    /// `ms <key> <size> T<ttl> [ME|C<cas>]` with `value`; `ttl` in whole seconds (at least 1).
    public func store(_ key: String, _ value: [UInt8], ttl: Int, mode: StoreMode = .set) async throws -> StoreOutcome {
        var line = "ms \(key) \(value.count) T\(max(1, ttl))"
        switch mode {
        case .set: break
        case .add: line += " ME"
        case .compareAndSwap(let cas): line += " C\(cas)"
        }
        let reply = try await send(Array("\(line)\r\n".utf8) + value + [13, 10], key: key)
        switch reply.status {
        case "HD": return .stored
        case "NS": return .notStored
        case "EX": return .exists
        case "NF": return .notFound
        default: throw MemcachedError.protocolViolation("unexpected reply to ms: \(reply.status)")
        }
    }

    /// `md <key> [C<cas>]`: `true` when this call deleted the item. With a CAS value, only the
    /// item still holding it is deleted (needs memcached 1.6.13 or later, see ``inspect()``).
    public func delete(_ key: String, cas: UInt64? = nil) async throws -> Bool {
        let reply = try await send(Array("md \(key)\(cas.map { " C\($0)" } ?? "")\r\n".utf8), key: key)
        switch reply.status {
        case "HD": return true
        case "NF", "EX": return false
        default: throw MemcachedError.protocolViolation("unexpected reply to md: \(reply.status)")
        }
    }

    /// What ``inspect()`` found on one server.
    public struct ServerReport: Sendable, Equatable {
        /// `host:port`.
        public var server: String
        /// The `version` reply.
        public var version: String
        /// Whether CAS values are handed out (memcached was not started with `-C`).
        public var hasCAS: Bool

        /// A report, as ``MemcachedClient/inspect()`` makes them.
        public init(server: String, version: String, hasCAS: Bool) {
            self.server = server
            self.version = version
            self.hasCAS = hasCAS
        }

        /// Whether the version is at least 1.6.13, where the meta protocol's conditional delete
        /// (`md … C<cas>`) works; older servers delete regardless of the CAS value.
        public var supportsConditionalDelete: Bool {
            let parts = version.split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
            let padded = parts + Array(repeating: 0, count: max(0, 3 - parts.count))
            return (padded[0], padded[1], padded[2]) >= (1, 6, 13)
        }
    }

    /// Asks every server its version, and whether it hands out CAS values (by storing, reading
    /// and deleting a probe key).
    public func inspect() async throws -> [ServerReport] {
        var reports: [ServerReport] = []
        for (index, server) in configuration.servers.enumerated() {
            let reply = try await send(Array("version\r\n".utf8), toServer: index)
            guard reply.status == "VERSION", let version = reply.flags.first else {
                throw MemcachedError.protocolViolation("unexpected reply to version: \(reply.status)")
            }
            let probe = "pixy:probe:\(Self.randomHex())"
            _ = try await send(Array("ms \(probe) 1 T5\r\n1\r\n".utf8), toServer: index)
            let read = try await send(Array("mg \(probe) c\r\n".utf8), toServer: index)
            _ = try await send(Array("md \(probe)\r\n".utf8), toServer: index)
            reports.append(ServerReport(server: server.description, version: version, hasCAS: (read.cas ?? 0) != 0))
        }
        return reports
    }

    private static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next(), radix: 16)
    }

    /// Closes every connection; later commands reconnect.
    public func close() {
        for server in slots { for slot in server { slot.close() } }
    }

    /// Waits for graceful shutdown, then closes the connections.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}
