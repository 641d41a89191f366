import Foundation
public import PixyCore
import PixyRESP

/// FailureCounting on Redis: failed-login counters shared by every process on this Redis.
extension RedisStore: FailureCounting {
    /// `auth:throttle:<key>`: a hash of the count and the window's end (on the injected clock),
    /// with a Redis TTL so abandoned keys go away. Every process sharing this Redis sees the
    /// same counts, so N processes allow no more login attempts than one.
    public func failures(for key: String) async throws -> Int {
        guard case .array(let fields?) = try await send(["HMGET", keys.throttle(key), "n", "ends"]), fields.count == 2,
            let count = fields[0].string.flatMap(Int.init), let ends = fields[1].string.flatMap(Double.init),
            ends > now.timeIntervalSince1970
        else { return 0 }
        return count
    }

    /// Counts one failure in the key's window, starting a new window if the last one ended.
    public func recordFailure(for key: String, window: Duration) async throws {
        _ = try await run(
            RedisScripts.recordFailure, keys: [keys.throttle(key)],
            arguments: [String(now.timeIntervalSince1970), String(window.timeInterval), milliseconds(window)])
    }

    /// Forgets the key's failures.
    public func clearFailures(for key: String) async throws {
        try await send(["DEL", keys.throttle(key)])
    }

    /// Counts one attempt unless the window already holds `limit`; `true` when counted.
    public func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool {
        let reply = try await run(
            RedisScripts.reserveAttempt, keys: [keys.throttle(key)],
            arguments: [
                String(now.timeIntervalSince1970), String(window.timeInterval), milliseconds(window), String(limit),
            ])
        return reply == .integer(1)
    }

    /// Takes one attempt back (never below zero) while the window lasts.
    public func releaseAttempt(for key: String) async throws {
        _ = try await run(RedisScripts.releaseAttempt, keys: [keys.throttle(key)], arguments: [String(now.timeIntervalSince1970)])
    }
}
