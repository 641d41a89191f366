public import Foundation
import GRDB
public import PixyCore

/// UserStore on SQLite: the `users` table (usernames unique).
extension SQLiteStore: UserStore {
    /// The user with this login name, if any.
    public func user(named username: String) async throws -> User? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM users WHERE username = ?"), arguments: [username])
        }
        return try text.map { try decode($0, through: userRecords) }
    }

    /// The user with this subject id, if any.
    public func user(withID id: String) async throws -> User? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM users WHERE id = ?"), arguments: [id])
        }
        return try text.map { try decode($0, through: userRecords) }
    }

    /// Inserts or replaces a user (by id); a username another user holds is refused with ``StorageError/duplicateUsername``.
    public func save(_ user: User) async throws {
        let text = try encode(user)
        try await database.write { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO users (id, username, created_at, record) VALUES (?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET username = excluded.username, record = excluded.record
                        """, arguments: [user.id, user.username, user.createdAt.timeIntervalSince1970, text])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StorageError.duplicateUsername
            }
        }
    }

    /// Removes a user by login name; `true` if one was removed.
    public func removeUser(named username: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM users WHERE username = ?", arguments: [username])
            return db.changesCount > 0
        }
    }

    /// Every user, ordered by creation.
    public func allUsers() async throws -> [User] {
        let texts = try readNow { db in
            try String.fetchAll(db, sql: "SELECT record FROM users ORDER BY created_at, username")
        }
        return try texts.map { try decode(User.self, $0) }
    }
}
