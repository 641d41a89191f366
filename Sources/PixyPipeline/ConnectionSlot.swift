import Synchronization

/// A connection a ``ConnectionSlot`` can hold.
public protocol PipelinedConnection: Sendable {
    /// Whether the connection can still be used.
    var isActive: Bool { get }
    /// Closes it.
    func close()
}

/// One connection slot of a pool: connected, connecting (callers share the attempt), or backing
/// off after a failed attempt. While backing off it fails at once, so an outage costs callers an
/// immediate error instead of a connect timeout each; the delay doubles from `initialDelay` up
/// to `maximumDelay`, and the first caller after it tries again, so the pool recovers by itself.
public final class ConnectionSlot<Connection: PipelinedConnection>: Sendable {
    private enum State {
        case empty
        case connecting(Task<Connection, any Error>)
        case ready(Connection)
        case backingOff(until: ContinuousClock.Instant)
    }

    private struct Guarded {
        var state = State.empty
        var failures = 0
    }

    private enum Next {
        case use(Connection)
        case wait(Task<Connection, any Error>)
    }

    private let guarded = Mutex(Guarded())
    private let initialDelay: Duration
    private let maximumDelay: Duration

    /// An empty slot.
    public init(initialDelay: Duration, maximumDelay: Duration) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// Whether the slot holds an open connection.
    public var isOpen: Bool {
        guarded.withLock { guarded in
            if case .ready(let connection) = guarded.state { return connection.isActive }
            return false
        }
    }

    /// The slot's connection, connecting with `connect` when it has none; while backing off,
    /// throws what `backingOff` makes.
    public func connection(
        connect: @escaping @Sendable () async throws -> Connection, backingOff: () -> any Error
    ) async throws -> Connection {
        let next: Next = try guarded.withLock { guarded in
            switch guarded.state {
            case .ready(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let task):
                return .wait(task)
            case .backingOff(let until) where ContinuousClock.now < until:
                throw backingOff()
            case .ready(let connection):
                connection.close()
                fallthrough
            default:
                let task = Task { try await connect() }
                guarded.state = .connecting(task)
                return .wait(task)
            }
        }
        switch next {
        case .use(let connection):
            return connection
        case .wait(let task):
            do {
                let connection = try await task.value
                guarded.withLock { guarded in
                    if case .connecting = guarded.state { guarded.state = .ready(connection) }
                    guarded.failures = 0
                }
                return connection
            } catch {
                guarded.withLock { guarded in
                    guard case .connecting = guarded.state else { return }
                    guarded.failures += 1
                    let delay = min(initialDelay * (1 << min(guarded.failures - 1, 16)), maximumDelay)
                    guarded.state = .backingOff(until: .now + delay)
                }
                throw error
            }
        }
    }

    /// Closes the connection, if any; the next caller reconnects.
    public func close() {
        guarded.withLock { guarded in
            if case .ready(let connection) = guarded.state { connection.close() }
            guarded.state = .empty
        }
    }
}
