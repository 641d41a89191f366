import Synchronization

/// One connection slot: connected, connecting (callers share the attempt), or backing off.
final class RedisConnectionSlot: Sendable {
    private enum State {
        case empty
        case connecting(Task<RedisConnection, any Error>)
        case ready(RedisConnection)
        case backingOff(until: ContinuousClock.Instant)
    }

    private struct Guarded {
        var state = State.empty
        var failures = 0
    }

    private let guarded = Mutex(Guarded())

    var isOpen: Bool {
        guarded.withLock { guarded in
            if case .ready(let connection) = guarded.state { return connection.isActive }
            return false
        }
    }

    func connection(_ configuration: RedisConfiguration) async throws -> RedisConnection {
        enum Next { case use(RedisConnection), wait(Task<RedisConnection, any Error>) }
        let next: Next = try guarded.withLock { guarded in
            switch guarded.state {
            case .ready(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let task):
                return .wait(task)
            case .backingOff(let until) where ContinuousClock.now < until:
                throw RedisError.backingOff("Redis unreachable at \(configuration.host):\(configuration.port); retrying shortly")
            case .ready(let connection):
                connection.close()
                fallthrough
            default:
                let task = Task { try await RedisConnection.connect(configuration) }
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
                    let delay = min(
                        configuration.initialReconnectDelay * (1 << min(guarded.failures - 1, 16)),
                        configuration.maximumReconnectDelay)
                    guarded.state = .backingOff(until: .now + delay)
                }
                throw error
            }
        }
    }

    func close() {
        guarded.withLock { guarded in
            if case .ready(let connection) = guarded.state { connection.close() }
            guarded.state = .empty
        }
    }
}
