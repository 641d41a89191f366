public import Foundation
public import PixyCore
import PixyRESP

/// TokenBucketStoring on Redis: rate-limit buckets shared by every process on this Redis.
extension RedisStore: TokenBucketStoring {
    /// `auth:bucket:<sha256 of the key>`: one Lua script refills, takes and answers, so every
    /// process sharing this Redis draws from the same bucket.
    public func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision {
        let idle = burst / max(refillPerSecond, 0.0001)  // a full refill: after that the key is not needed
        let reply = try await run(
            RedisScripts.takeToken, keys: [keys.bucket(SecretHash.sha256Hex(key))],
            arguments: [
                String(burst), String(refillPerSecond), String(now.timeIntervalSince1970), String(max(1000, Int(idle * 1000))),
            ])
        guard case .array(let values?) = reply, values.count == 2, case .integer(let taken) = values[0],
            case .integer(let retryAfter) = values[1]
        else { throw StorageError.failed("redis: unexpected reply taking a token") }
        return RateLimitDecision(isAllowed: taken == 1, retryAfter: retryAfter)
    }
}
