public import Foundation
import GRDB
public import PixyCore

/// ConsentStore on SQLite: the `consents` table.
extension SQLiteStore: ConsentStore {
    /// The consent remembered for this user, client and resource, if any.
    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        let text = try readNow { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT record FROM consents WHERE key = ?"),
                arguments: [StorageKey.consent(userID: userID, clientID: clientID, resource: resource)])
        }
        return try text.map { try decode(ConsentRecord.self, $0) }
    }

    /// Remembers consent for this user, client and resource (replacing what was there).
    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        let text = try encode(record)
        try await database.write { db in
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO consents (key, record) VALUES (?, ?)")
                .execute(arguments: [StorageKey.consent(userID: userID, clientID: clientID, resource: resource), text])
        }
    }

    /// Forgets the consent for this user and client, every resource. A prefix compare, not
    /// `LIKE`: percent-encoded keys are full of `%`, LIKE's wildcard.
    public func forgetConsents(userID: String, clientID: ClientID) async throws {
        let prefix = StorageKey.consentPrefix(userID: userID, clientID: clientID)
        try await database.write { db in
            try db.cachedStatement(sql: "DELETE FROM consents WHERE substr(key, 1, length(?1)) = ?1")
                .execute(arguments: [prefix])
        }
    }
}
