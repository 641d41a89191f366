public import struct Foundation.Date
import Synchronization

/// Counts failures per key within a window. One implementation per deployment shape: process
/// memory for a single server (SQLite, memory), Redis when several processes share the state, so
/// N processes do not allow N times the attempts.
public protocol FailureCounting: Sendable {
    /// Failures recorded for `key` in its current window; 0 when none or the window is over.
    func failures(for key: String) async throws -> Int
    /// Records a failure for `key`; the first failure of a key starts a window of `window`.
    func recordFailure(for key: String, window: Duration) async throws
    /// Forgets `key`.
    func clearFailures(for key: String) async throws
    /// Counts an attempt for `key` before it is made, if fewer than `limit` are counted in the
    /// current window; `false` (and nothing counted) otherwise. One atomic step, so N parallel
    /// attempts can never all pass a check made before any of them was counted.
    func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool
    /// Takes back one counted attempt (a successful login is not a failure), never below zero.
    func releaseAttempt(for key: String) async throws
}

/// ``FailureCounting`` in process memory: a restart forgets, which errs toward availability.
public final class InMemoryFailureCounters: FailureCounting {
    private struct Window: Sendable {
        var failures: Int
        var endsAt: Date
    }

    private let state = Mutex<[String: Window]>([:])
    private let clock: any WallClock

    /// Counters on `clock`.
    public init(clock: any WallClock) { self.clock = clock }

    public func failures(for key: String) async throws -> Int {
        let now = clock.now()
        return state.withLock { state in
            guard let entry = state[key], entry.endsAt > now else { return 0 }
            return entry.failures
        }
    }

    public func recordFailure(for key: String, window: Duration) async throws {
        let now = clock.now()
        state.withLock { state in
            if state.count > 100_000 { state = state.filter { $0.value.endsAt > now } }
            if var entry = state[key], entry.endsAt > now {
                entry.failures += 1
                state[key] = entry
            } else {
                state[key] = Window(failures: 1, endsAt: now.addingTimeInterval(window.timeInterval))
            }
        }
    }

    public func clearFailures(for key: String) async throws {
        _ = state.withLock { $0.removeValue(forKey: key) }
    }

    public func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool {
        let now = clock.now()
        return state.withLock { state in
            if state.count > 100_000 { state = state.filter { $0.value.endsAt > now } }
            var entry =
                state[key].flatMap { $0.endsAt > now ? $0 : nil }
                ?? Window(failures: 0, endsAt: now.addingTimeInterval(window.timeInterval))
            guard entry.failures < limit else { return false }
            entry.failures += 1
            state[key] = entry
            return true
        }
    }

    public func releaseAttempt(for key: String) async throws {
        let now = clock.now()
        state.withLock { state in
            guard var entry = state[key], entry.endsAt > now, entry.failures > 0 else { return }
            entry.failures -= 1
            state[key] = entry
        }
    }
}

/// Limits failed password attempts (docs/security.md §8) per username and per source address, so
/// neither one account nor one attacker can try passwords quickly. Successful logins reset the
/// username's counter. The counts live in a ``FailureCounting``: process memory, or the shared
/// Redis when several Pixy processes serve one issuer.
public final class LoginThrottle: Sendable {
    private let counters: any FailureCounting
    /// Failures allowed per username within ``window`` (four times as many per source address).
    public let maximumFailures: Int
    /// The length of a counting window.
    public let window: Duration

    /// Creates a throttle; without `counters`, it counts in process memory.
    public init(clock: any WallClock, counters: (any FailureCounting)? = nil, maximumFailures: Int = 5, window: Duration = .seconds(900)) {
        self.counters = counters ?? InMemoryFailureCounters(clock: clock)
        self.maximumFailures = maximumFailures
        self.window = window
    }

    /// An attempt counted in advance (``reserve(account:source:)``): a failure keeps it counted,
    /// a success gives it back.
    public struct Reservation: Sendable {
        let accountKey: String
        let sourceKey: String
    }

    /// Counts one attempt against the account and the source before the password is checked, or
    /// `nil` when either is at its limit. `account` is the resolved user's id, or the canonical
    /// name when no such user exists, so spellings of one account share one counter.
    ///
    /// The source is counted first: a source at its limit creates no counter at all, so it cannot
    /// fill a shared store with account counters (to push others out of an evicting cache).
    public func reserve(account: String, source: String) async throws -> Reservation? {
        let accountKey = Self.key(user: account)
        let sourceKey = Self.key(source: source)
        guard try await counters.reserveAttempt(for: sourceKey, limit: maximumFailures * 4, window: window) else { return nil }
        guard try await counters.reserveAttempt(for: accountKey, limit: maximumFailures, window: window) else {
            try await counters.releaseAttempt(for: sourceKey)
            return nil
        }
        return Reservation(accountKey: accountKey, sourceKey: sourceKey)
    }

    /// The password was right: the account's failures are forgotten and the source's attempt is
    /// given back.
    public func succeeded(_ reservation: Reservation) async throws {
        try await counters.clearFailures(for: reservation.accountKey)
        try await counters.releaseAttempt(for: reservation.sourceKey)
    }

    /// The attempt never reached the password check (e.g. the server was busy): give it back.
    public func cancel(_ reservation: Reservation) async throws {
        try await counters.releaseAttempt(for: reservation.accountKey)
        try await counters.releaseAttempt(for: reservation.sourceKey)
    }

    /// Whether another attempt is allowed for `username` from `source`.
    public func allowsAttempt(username: String, source: String) async throws -> Bool {
        // Sources get more room than accounts: many users may share one egress address.
        guard try await counters.failures(for: Self.key(user: username)) < maximumFailures else { return false }
        return try await counters.failures(for: Self.key(source: source)) < maximumFailures * 4
    }

    /// Records a failed attempt.
    public func recordFailure(username: String, source: String) async throws {
        try await counters.recordFailure(for: Self.key(user: username), window: window)
        try await counters.recordFailure(for: Self.key(source: source), window: window)
    }

    /// Clears the username's counter after a successful login.
    public func recordSuccess(username: String) async throws {
        try await counters.clearFailures(for: Self.key(user: username))
    }

    /// Keys hash the username and address: whatever was typed never becomes a key verbatim.
    private static func key(user: String) -> String { "u:" + SecretHash.sha256Hex(user) }
    private static func key(source: String) -> String { "s:" + SecretHash.sha256Hex(source) }
}
