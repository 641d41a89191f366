public import Foundation
public import PixyCore
import PixyRESP

/// TokenStatusStore on Redis (revoked access tokens), and the used-code markers of
/// AuthorizationCodeStore (with a TTL).
extension RedisStore: TokenStatusStore {
    /// Listed until the token would have expired anyway; Redis then drops the key.
    public func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        try await send(["SET", keys.revokedToken(id: tokenID), "1", "PX", milliseconds(until: expiresAt)])
    }

    /// Whether `tokenID` is listed as revoked.
    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        try await send(["EXISTS", keys.revokedToken(id: tokenID)]) == .integer(1)
    }

    /// Remembers that the code with `codeHash` was redeemed, for `ttl`.
    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        _ = try await putExpiring(marker, key: keys.usedCode(hash: codeHash), ttl: ttl)
    }

    /// The marker of a redeemed code, if still remembered.
    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try expiring(UsedCodeMarker.self, from: try await get(keys.usedCode(hash: codeHash)))
    }
}
