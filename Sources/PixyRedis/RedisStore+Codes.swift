import Foundation
public import PixyCore
import PixyRESP

/// AuthorizationCodeStore on Redis: authorization codes (`auth:code:<sha256>`, with a TTL).
extension RedisStore: AuthorizationCodeStore {
    /// `SET auth:code:<hash> … PX <ttl> NX`: never overwrites a live code.
    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        guard try await putExpiring(record, key: keys.code(hash: codeHash), ttl: ttl, onlyIfAbsent: true) else {
            throw StorageError.duplicateKey
        }
    }

    /// `GETDEL`: Redis runs commands one at a time, so of N concurrent consumers exactly one gets
    /// the value (docs/security.md §3); then the record's own `exp` is checked.
    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        try expiring(AuthorizationCodeRecord.self, from: try await send(["GETDEL", keys.code(hash: codeHash)]).string)
    }
}
