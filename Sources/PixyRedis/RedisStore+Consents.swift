import Foundation
public import PixyCore
import PixyRESP

/// ConsentStore on Redis: remembered consent (`auth:consent:<user>:<client>:<resource>`).
extension RedisStore: ConsentStore {
    /// The consent remembered for this user, client and resource, if any.
    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        try await get(keys.consent(userID: userID, clientID: clientID, resource: resource)).map { try decode(ConsentRecord.self, $0) }
    }

    /// Remembers consent for this user, client and resource (replacing what was there), and
    /// indexes the key under the user and client so that revoking the app finds every resource.
    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        let key = keys.consent(userID: userID, clientID: clientID, resource: resource)
        try await transaction([
            ["SET", key, try encode(record)], ["SADD", keys.consentIndex(userID: userID, clientID: clientID), key],
        ])
    }

    /// Forgets the consent for this user and client, every resource: the indexed keys, and the
    /// key without a resource (consent saved before the index existed is found only there).
    public func forgetConsents(userID: String, clientID: ClientID) async throws {
        let index = keys.consentIndex(userID: userID, clientID: clientID)
        guard case .array(let replies?) = try await send(["SMEMBERS", index]) else {
            throw StorageError.failed("redis: SMEMBERS reply")
        }
        let indexed = replies.compactMap(\.string)
        try await send(["DEL", index, keys.consent(userID: userID, clientID: clientID, resource: nil)] + indexed)
    }
}
