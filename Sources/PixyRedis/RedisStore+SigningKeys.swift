import Foundation
public import PixyCore
import PixyModel
import PixyRESP

/// SigningKeyStore on Redis: signing keys (`auth:key:<kid>`, an index by creation, a creation lock).
extension RedisStore: SigningKeyStore {
    /// Every signing key, ordered by creation.
    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        let ids = try await members(of: keys.signingKeyIndex)
        return try await values(of: ids.map(keys.signingKey(id:))).map { try decode(SigningKeyRecord.self, $0) }
    }

    /// Inserts or replaces a signing key (by kid).
    public func save(_ key: SigningKeyRecord) async throws {
        try await transaction([
            ["SET", keys.signingKey(id: key.kid), try encode(key)],
            ["ZADD", keys.signingKeyIndex, String(key.createdAt.timeIntervalSince1970), key.kid],
        ])
    }

    /// A lock in Redis (`SET … NX PX`, released only by its holder), so processes starting
    /// together on an empty store create one first key between them.
    public func whileCreatingKeys<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let token = SecureRandom.token()
        let lease = Duration.seconds(10)
        let deadline = ContinuousClock.now + lease
        while try await send(["SET", keys.keyCreationLock, token, "NX", "PX", milliseconds(lease)]).isNull {
            guard ContinuousClock.now < deadline else { throw StorageError.failed("signing key creation is locked by another process") }
            try await Task.sleep(for: .milliseconds(50))
        }
        do {
            let result = try await body()
            _ = try await run(RedisScripts.releaseLock, keys: [keys.keyCreationLock], arguments: [token])
            return result
        } catch {
            _ = try? await run(RedisScripts.releaseLock, keys: [keys.keyCreationLock], arguments: [token])
            throw error
        }
    }
}
