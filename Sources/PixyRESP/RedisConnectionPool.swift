import NIOCore
import PixyPipeline
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// A fixed set of ``RedisConnection``s shared by every caller.
///
/// Why shared, not borrowed: a Redis connection pipelines, so many requests in flight on one
/// connection cost one round trip between them, while exclusive borrowing makes request N+1 wait
/// for a free connection. Commands go round-robin over `maximumConnections` slots. A slot whose
/// connection broke reconnects on its next use; after a failed attempt it fails fast for a
/// backoff delay (doubling up to `maximumReconnectDelay`), so an outage costs callers an
/// immediate error instead of a connect timeout each, and the pool recovers by itself when
/// Redis is back.
///
/// Runs as a ServiceLifecycle service: on graceful shutdown it closes its connections.
public final class RedisConnectionPool: Sendable, Service {
    private let configuration: RedisConfiguration
    private let slots: [ConnectionSlot<RedisConnection>]
    private let next = Atomic<Int>(0)

    /// Creates a pool; connections are opened on demand.
    public init(configuration: RedisConfiguration) {
        self.configuration = configuration
        slots = (0..<max(1, configuration.maximumConnections)).map { _ in
            ConnectionSlot(initialDelay: configuration.initialReconnectDelay, maximumDelay: configuration.maximumReconnectDelay)
        }
    }

    /// Connections currently open.
    public var openConnections: Int { slots.reduce(0) { $0 + ($1.isOpen ? 1 : 0) } }

    /// Sends one command; an error reply throws ``RedisError``.
    public func send(_ arguments: [String]) async throws -> RESPValue {
        try await connection().send(arguments)
    }

    /// Sends commands back to back on one connection (see ``RedisConnection/send(batch:)``).
    public func send(batch commands: [[String]]) async throws -> [RESPValue] {
        try await connection().send(batch: commands)
    }

    private func connection() async throws -> RedisConnection {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        let configuration = configuration
        return try await slots[Int(UInt(bitPattern: index) % UInt(slots.count))].connection(
            connect: { try await RedisConnection.connect(configuration) },
            backingOff: { RedisError.backingOff("Redis unreachable at \(configuration.host):\(configuration.port); retrying shortly") })
    }

    /// Closes every connection. Later commands reconnect.
    public func close() {
        for slot in slots { slot.close() }
    }

    /// Waits for graceful shutdown, then closes the connections.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}
