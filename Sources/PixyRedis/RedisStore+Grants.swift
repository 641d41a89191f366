import Foundation
public import PixyCore
import PixyRESP

/// GrantStore on Redis: grants and refresh-token families (compare-and-set scripts).
extension RedisStore: GrantStore {
    /// One script: the grant (refused if the id exists) and its first refresh token's index entry,
    /// both living until the family's absolute end.
    public func createGrant(_ grant: Grant) async throws {
        let created = try await run(
            RedisScripts.createGrant,
            keys: [
                keys.grant(id: grant.id), keys.refreshToken(hash: grant.currentTokenHash), keys.grantIndex,
                keys.grantIndex(userID: grant.subject), keys.grantIndex(clientID: grant.clientID),
            ],
            arguments: [
                try encode(grant), milliseconds(until: grant.expiresAt), grant.id,
                String(Int(grant.expiresAt.timeIntervalSince1970 * 1000)),
            ])
        guard created == .integer(1) else { throw StorageError.duplicateKey }
    }

    /// The grant with this id, if any.
    public func grant(withID id: String) async throws -> Grant? {
        try await get(keys.grant(id: id)).map { try decode(Grant.self, $0) }
    }

    /// The owner's index (a sorted set scored by each grant's end), pruned of ended grants first.
    public func grants(of owner: GrantOwner) async throws -> [Grant] {
        let index =
            switch owner {
            case .everyone: keys.grantIndex
            case .user(let id): keys.grantIndex(userID: id)
            case .client(let clientID): keys.grantIndex(clientID: clientID)
            }
        _ = try await send(["ZREMRANGEBYSCORE", index, "-inf", String(Int(now.timeIntervalSince1970 * 1000))])
        let ids = try await members(of: index)
        return try await values(of: ids.map(keys.grant(id:))).map { try decode(Grant.self, $0) }.filter { $0.expiresAt > now }
    }

    /// The grant that issued the refresh token with this hash, updated by `body`; `nil` if none.
    public func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        guard let id = try await get(keys.refreshToken(hash: refreshTokenHash)) else { return nil }
        return try await updateGrant(id: id, body)
    }

    /// Optimistic and atomic: read, decide in Swift, then compare-and-set in one script. When
    /// another update landed in between, the script returns the newer grant and the decision runs
    /// again on it, so `body` must be free of side effects (it is: decisions are pure).
    public func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        let key = keys.grant(id: id)
        guard var text = try await get(key) else { return nil }
        for _ in 0..<1_000 {
            var grant = try decode(Grant.self, text)
            switch body(&grant) {
            case .keep(let result):
                return result
            case .save(let result, let newTokenHash):
                let reply = try await run(
                    RedisScripts.compareAndSetGrant,
                    keys: [key, newTokenHash.map(keys.refreshToken(hash:)) ?? ""],
                    arguments: [text, try encode(grant), milliseconds(until: grant.expiresAt), id])
                switch reply {
                case .integer(1): return result
                case .bulkString(nil): return nil
                case .bulkString(let bytes?): text = String(decoding: bytes, as: UTF8.self)
                default: throw StorageError.failed("redis: unexpected reply updating a grant")
                }
            }
        }
        throw StorageError.failed("grant \(id): too many concurrent updates")
    }
}
