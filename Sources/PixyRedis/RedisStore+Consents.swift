import Foundation
public import PixyCore
import PixyRESP

/// ConsentStore on Redis: remembered consent (`auth:consent:<user>:<client>:<resource>`).
extension RedisStore: ConsentStore {
    /// The consent remembered for this user, client and resource, if any.
    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        try await get(keys.consent(userID: userID, clientID: clientID, resource: resource)).map { try decode(ConsentRecord.self, $0) }
    }

    /// Remembers consent for this user, client and resource (replacing what was there).
    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        try await send(["SET", keys.consent(userID: userID, clientID: clientID, resource: resource), try encode(record)])
    }

    /// Forgets the consent for this user, client and resource.
    public func forgetConsent(userID: String, clientID: ClientID, resource: String?) async throws {
        try await send(["DEL", keys.consent(userID: userID, clientID: clientID, resource: resource)])
    }
}
