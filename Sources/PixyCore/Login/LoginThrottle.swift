public import struct Foundation.Date
import Synchronization

/// Limits failed password attempts (SECURITY.md §8) per username and per source address, so
/// neither one account nor one attacker can try passwords quickly. Successful logins reset the
/// username's counter. In process memory: a restart forgets, which errs toward availability.
public final class LoginThrottle: Sendable {
    private struct Window: Sendable {
        var failures: Int
        var startedAt: Date
    }

    private let state = Mutex<[String: Window]>([:])
    private let clock: any WallClock
    /// Failures allowed per key within ``window``.
    public let maximumFailures: Int
    /// The length of a counting window.
    public let window: Duration

    /// Creates a throttle.
    public init(clock: any WallClock, maximumFailures: Int = 5, window: Duration = .seconds(900)) {
        self.clock = clock
        self.maximumFailures = maximumFailures
        self.window = window
    }

    /// Whether another attempt is allowed for `username` from `source`.
    public func allowsAttempt(username: String, source: String) -> Bool {
        let now = clock.now()
        return state.withLock { state in
            [Self.key(user: username), Self.key(source: source)].allSatisfy { key in
                guard let entry = state[key], now.timeIntervalSince(entry.startedAt) < window.timeInterval else { return true }
                // Sources get more room than accounts: many users may share one egress address.
                let limit = key.hasPrefix("s:") ? maximumFailures * 4 : maximumFailures
                return entry.failures < limit
            }
        }
    }

    /// Records a failed attempt.
    public func recordFailure(username: String, source: String) {
        let now = clock.now()
        state.withLock { state in
            if state.count > 100_000 {
                state = state.filter { now.timeIntervalSince($0.value.startedAt) < window.timeInterval }
            }
            for key in [Self.key(user: username), Self.key(source: source)] {
                if var entry = state[key], now.timeIntervalSince(entry.startedAt) < window.timeInterval {
                    entry.failures += 1
                    state[key] = entry
                } else {
                    state[key] = Window(failures: 1, startedAt: now)
                }
            }
        }
    }

    /// Clears the username's counter after a successful login.
    public func recordSuccess(username: String) {
        _ = state.withLock { $0.removeValue(forKey: Self.key(user: username)) }
    }

    private static func key(user: String) -> String { "u:" + user }
    private static func key(source: String) -> String { "s:" + source }
}
