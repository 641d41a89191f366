public import Foundation
import GRDB
public import PixyCore

/// SigningKeyStore on SQLite: the `signing_keys` table.
extension SQLiteStore: SigningKeyStore {
    /// Every signing key, ordered by creation.
    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        let texts = try readNow { db in
            try String.fetchAll(db, sql: "SELECT record FROM signing_keys ORDER BY created_at, kid")
        }
        return try texts.map { try decode(SigningKeyRecord.self, $0) }
    }

    /// Inserts or replaces a signing key (by kid).
    public func save(_ key: SigningKeyRecord) async throws {
        let text = try encode(key)
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO signing_keys (kid, created_at, record) VALUES (?, ?, ?)",
                arguments: [key.kid, key.createdAt.timeIntervalSince1970, text])
        }
    }
}
