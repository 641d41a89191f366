public import Foundation
import GRDB
public import PixyCore

/// ClientStore on SQLite: the `clients` table.
extension SQLiteStore: ClientStore {
    /// An `UPDATE`, which touches no row once the client was removed.
    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        let text = try encode(client)
        return try await database.write { db in
            try db.execute(sql: "UPDATE clients SET record = ? WHERE client_id = ?", arguments: [text, client.clientID.rawValue])
            return db.changesCount > 0
        }
    }

    /// The client with this id, if registered.
    public func client(withID clientID: ClientID) async throws -> Client? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM clients WHERE client_id = ?"), arguments: [clientID.rawValue])
        }
        return try text.map { try decode($0, through: clientRecords) }
    }

    /// Inserts or replaces a client (and its fingerprint index entry, if any).
    public func save(_ client: Client) async throws {
        let text = try encode(client)
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO clients (client_id, created_at, record, fingerprint) VALUES (?, ?, ?, ?)",
                arguments: [client.clientID.rawValue, client.createdAt.timeIntervalSince1970, text, client.registrationFingerprint])
        }
    }

    /// Removes a client; `true` if one was removed.
    public func removeClient(withID clientID: ClientID) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM clients WHERE client_id = ?", arguments: [clientID.rawValue])
            return db.changesCount > 0
        }
    }

    /// Every client, ordered by creation.
    public func allClients() async throws -> [Client] {
        let texts = try readNow { db in
            try String.fetchAll(db, sql: "SELECT record FROM clients ORDER BY created_at, client_id")
        }
        return try texts.map { try decode(Client.self, $0) }
    }

    /// The dynamically registered client with this registration fingerprint, if any.
    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        let text = try readNow { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT record FROM clients WHERE fingerprint = ? ORDER BY created_at LIMIT 1"),
                arguments: [fingerprint])
        }
        return try text.map { try decode(Client.self, $0) }
    }
}
