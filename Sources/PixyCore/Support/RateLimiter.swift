public import struct Foundation.Date
import Synchronization

/// Token buckets by key. One implementation per deployment shape: process memory for a single
/// server, Redis when several processes share the state (so N processes do not allow N bursts).
public protocol TokenBucketStoring: Sendable {
    /// Refills `key`'s bucket for the time since it was last touched (at most `burst` tokens),
    /// takes one token if there is one, and says whether it did and how many seconds until a
    /// token is back. One atomic step.
    func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision
}

/// What a ``RateLimiter`` decided.
public struct RateLimitDecision: Sendable, Equatable {
    /// Whether the request may go ahead (a token was taken).
    public var isAllowed: Bool
    /// Seconds until the next token (0 when one is left).
    public var retryAfter: Int

    /// Creates a decision.
    public init(isAllowed: Bool, retryAfter: Int) {
        self.isAllowed = isAllowed
        self.retryAfter = retryAfter
    }
}

/// ``TokenBucketStoring`` in process memory.
public final class InMemoryTokenBuckets: TokenBucketStoring {
    private struct Bucket: Sendable {
        var tokens: Double
        var updatedAt: Date
    }

    private let buckets = Mutex<[String: Bucket]>([:])

    /// Empty buckets.
    public init() {}

    public func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision {
        buckets.withLock { buckets in
            func refreshed(_ bucket: Bucket?) -> Bucket {
                guard let bucket else { return Bucket(tokens: burst, updatedAt: now) }
                let regained = max(0, now.timeIntervalSince(bucket.updatedAt)) * refillPerSecond
                return Bucket(tokens: min(burst, bucket.tokens + regained), updatedAt: now)
            }
            if buckets.count > 100_000 { buckets = buckets.filter { refreshed($0.value).tokens < burst } }
            var bucket = refreshed(buckets[key])
            let isAllowed = bucket.tokens >= 1
            if isAllowed { bucket.tokens -= 1 }
            buckets[key] = bucket
            let retryAfter = bucket.tokens >= 1 ? 0 : Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up))
            return RateLimitDecision(isAllowed: isAllowed, retryAfter: retryAfter)
        }
    }
}

/// A token bucket per key (e.g. per source address), on the injected clock.
///
/// Used for `/register` (docs/security.md §7). Registrations that return an existing client are not
/// counted (see ``ClientRegistrar``), so many users behind one egress address running the same
/// MCP client are not punished; only a source minting many distinct clients is slowed.
public final class RateLimiter: Sendable {
    private let clock: any WallClock
    private let buckets: any TokenBucketStoring
    /// Requests allowed at once.
    public let burst: Double
    /// Requests regained per second.
    public let refillPerSecond: Double

    /// Creates a limiter: `burst` requests at once, then `refillPerSecond`; without `buckets`,
    /// it counts in process memory.
    public init(clock: any WallClock, burst: Int, refillPerSecond: Double, buckets: (any TokenBucketStoring)? = nil) {
        self.clock = clock
        self.buckets = buckets ?? InMemoryTokenBuckets()
        self.burst = Double(burst)
        self.refillPerSecond = refillPerSecond
    }

    /// Takes one request's worth from `key`'s bucket if it has it.
    public func take(_ key: String) async throws -> RateLimitDecision {
        try await buckets.takeToken(key: key, burst: burst, refillPerSecond: refillPerSecond, now: clock.now())
    }
}
