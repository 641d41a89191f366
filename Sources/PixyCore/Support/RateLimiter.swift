public import struct Foundation.Date
import Synchronization

/// A token bucket per key (e.g. per source address), on the injected clock.
///
/// Used for `/register` (SECURITY.md §7). Registrations that return an existing client are not
/// counted (see ``ClientRegistrar``), so many users behind one egress address running the same
/// MCP client are not punished; only a source minting many distinct clients is slowed.
public final class RateLimiter: Sendable {
    private struct Bucket: Sendable {
        var tokens: Double
        var updatedAt: Date
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock: any WallClock
    /// Requests allowed at once.
    public let burst: Double
    /// Requests regained per second.
    public let refillPerSecond: Double

    /// Creates a limiter: `burst` requests at once, then `refillPerSecond`.
    public init(clock: any WallClock, burst: Int, refillPerSecond: Double) {
        self.clock = clock
        self.burst = Double(burst)
        self.refillPerSecond = refillPerSecond
    }

    private func refreshed(_ bucket: Bucket?, now: Date) -> Bucket {
        guard let bucket else { return Bucket(tokens: burst, updatedAt: now) }
        let regained = max(0, now.timeIntervalSince(bucket.updatedAt)) * refillPerSecond
        return Bucket(tokens: min(burst, bucket.tokens + regained), updatedAt: now)
    }

    /// Whether `key` may make a request now (nothing is consumed).
    public func allows(_ key: String) -> Bool {
        let now = clock.now()
        return buckets.withLock { refreshed($0[key], now: now).tokens >= 1 }
    }

    /// Counts one request against `key`.
    public func record(_ key: String) {
        let now = clock.now()
        buckets.withLock { buckets in
            if buckets.count > 100_000 { buckets = buckets.filter { refreshed($0.value, now: now).tokens < burst } }
            var bucket = refreshed(buckets[key], now: now)
            bucket.tokens = max(0, bucket.tokens - 1)
            buckets[key] = bucket
        }
    }

    /// Seconds until `key` may make a request again.
    public func retryAfter(_ key: String) -> Int {
        let now = clock.now()
        let tokens = buckets.withLock { refreshed($0[key], now: now).tokens }
        return tokens >= 1 ? 0 : Int(((1 - tokens) / refillPerSecond).rounded(.up))
    }
}
