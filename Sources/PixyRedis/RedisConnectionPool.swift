import NIOCore
import NIOPosix

/// A bounded pool of ``RedisConnection``s. Commands borrow a connection, so at most
/// `maximumConnections` are open; broken connections are dropped and replaced on the next use,
/// so the pool recovers by itself when Redis comes back.
public actor RedisConnectionPool {
    private let configuration: RedisConfiguration
    private var idle: [RedisConnection] = []
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Creates an empty pool; connections are opened on demand.
    public init(configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    /// Connections currently open (idle or borrowed).
    public var openConnections: Int { open }

    /// Sends one command on a pooled connection.
    public func send(_ arguments: [String]) async throws -> RESPValue {
        let connection = try await borrow()
        do {
            let value = try await connection.send(arguments)
            giveBack(connection)
            return value
        } catch let error as RedisError where !error.isConnectionFailure {
            giveBack(connection)
            throw error
        } catch {
            discard(connection)
            throw error
        }
    }

    private func borrow() async throws -> RedisConnection {
        while true {
            while let connection = idle.popLast() {
                if connection.isActive { return connection }
                discard(connection)
            }
            if open < configuration.maximumConnections {
                open += 1
                do {
                    return try await RedisConnection.connect(configuration)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func giveBack(_ connection: RedisConnection) {
        guard connection.isActive else { return discard(connection) }
        idle.append(connection)
        wakeOne()
    }

    private func discard(_ connection: RedisConnection) {
        connection.close()
        open -= 1
        wakeOne()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// Closes every idle connection.
    public func close() {
        for connection in idle { connection.close() }
        open -= idle.count
        idle.removeAll()
    }
}
