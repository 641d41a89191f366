import Synchronization

/// Caps expensive work in flight (password hashing), overall and per key, answering at once
/// when full instead of queueing: an unauthenticated flood of login attempts then costs a
/// bounded amount of CPU and cannot hold every request behind bcrypt (docs/threat-model.md).
public final class WorkLimiter: Sendable {
    private struct State {
        var total = 0
        var perKey: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// Work allowed in flight at once.
    public let maximumInFlight: Int
    /// Work allowed in flight at once for one key (one account).
    public let maximumInFlightPerKey: Int

    /// A limiter allowing `maximumInFlight` at once, `maximumInFlightPerKey` of them for one key.
    public init(maximumInFlight: Int, maximumInFlightPerKey: Int) {
        self.maximumInFlight = max(1, maximumInFlight)
        self.maximumInFlightPerKey = max(1, maximumInFlightPerKey)
    }

    /// Runs `body` if there is room for `key`, or returns `nil` at once when there is none.
    public func run<T: Sendable>(key: String, _ body: () async throws -> T) async throws -> T? {
        let admitted = state.withLock { state -> Bool in
            guard state.total < maximumInFlight, state.perKey[key, default: 0] < maximumInFlightPerKey else { return false }
            state.total += 1
            state.perKey[key, default: 0] += 1
            return true
        }
        guard admitted else { return nil }
        defer {
            state.withLock { state in
                state.total -= 1
                let left = state.perKey[key, default: 1] - 1
                state.perKey[key] = left > 0 ? left : nil
            }
        }
        return try await body()
    }

    /// Work in flight now (for tests and metrics).
    public var inFlight: Int { state.withLock { $0.total } }
}
