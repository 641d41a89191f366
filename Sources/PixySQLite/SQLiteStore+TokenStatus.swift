public import Foundation
import GRDB
public import PixyCore

/// TokenStatusStore on SQLite (`revoked_tokens`), and the used-code markers of
/// AuthorizationCodeStore (`used_codes`).
extension SQLiteStore: TokenStatusStore {
    /// Lists `tokenID` as revoked until `expiresAt`.
    public func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        let now = nowSeconds
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO revoked_tokens (key, expires_at) VALUES (?, ?)")
                .execute(arguments: [StorageKey.revokedToken(id: tokenID), expiresAt.timeIntervalSince1970])
            try sweepIfDue(db, now: now)
        }
    }

    /// Whether `tokenID` is listed as revoked.
    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        try readNow { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM revoked_tokens WHERE key = ?"),
                arguments: [StorageKey.revokedToken(id: tokenID)]) ?? false
        }
    }

    /// Remembers that the code with `codeHash` was redeemed, for `ttl`.
    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try await put("used_codes", key: StorageKey.usedCode(hash: codeHash), record: marker, ttl: ttl)
    }

    /// The marker of a redeemed code, if still remembered.
    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try await get(UsedCodeMarker.self, "used_codes", key: StorageKey.usedCode(hash: codeHash))
    }
}
