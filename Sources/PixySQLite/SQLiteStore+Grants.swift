public import Foundation
import GRDB
public import PixyCore

/// GrantStore on SQLite: the `grants` and `refresh_tokens` tables.
extension SQLiteStore: GrantStore {
    /// Refuses a grant id that exists with ``StorageError/duplicateKey``, as every store does.
    public func createGrant(_ grant: Grant) async throws {
        let text = try encode(grant)
        let now = nowSeconds
        try await database.write { db in
            do {
                try db.cachedStatement(sql: "INSERT INTO grants (id, expires_at, record, subject, client_id) VALUES (?, ?, ?, ?, ?)")
                    .execute(arguments: [grant.id, grant.expiresAt.timeIntervalSince1970, text, grant.subject, grant.clientID.rawValue])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StorageError.duplicateKey
            }
            try db.cachedStatement(sql: "INSERT INTO refresh_tokens (key, grant_id, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [
                    StorageKey.refreshToken(hash: grant.currentTokenHash), grant.id, grant.expiresAt.timeIntervalSince1970,
                ])
            try sweepIfDue(db, now: now)
        }
    }

    /// The grant with this id, if any.
    public func grant(withID id: String) async throws -> Grant? {
        let text = try readNow { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM grants WHERE id = ?"), arguments: [id])
        }
        return try text.map { try decode(Grant.self, $0) }
    }

    /// One write transaction: SQLite serializes writers, so the read-decide-write of a family
    /// never interleaves with another (docs/security.md §5).
    public func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        try await database.write { db in
            guard
                let id = try String.fetchOne(
                    db.cachedStatement(sql: "SELECT grant_id FROM refresh_tokens WHERE key = ?"),
                    arguments: [StorageKey.refreshToken(hash: refreshTokenHash)])
            else { return nil }
            return try self.apply(body, to: id, in: db)
        }
    }

    /// The grant with this id, updated by `body`; `nil` if none.
    public func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        try await database.write { db in try self.apply(body, to: id, in: db) }
    }

    /// The grants of `owner` that have not ended, revoked ones included.
    public func grants(of owner: GrantOwner) async throws -> [Grant] {
        let now = nowSeconds
        let texts = try readNow { db -> [String] in
            switch owner {
            case .everyone:
                return try String.fetchAll(db, sql: "SELECT record FROM grants WHERE expires_at > ? ORDER BY rowid", arguments: [now])
            case .user(let id):
                return try String.fetchAll(
                    db, sql: "SELECT record FROM grants WHERE subject = ? AND expires_at > ? ORDER BY rowid",
                    arguments: [id, now])
            case .client(let clientID):
                return try String.fetchAll(
                    db, sql: "SELECT record FROM grants WHERE client_id = ? AND expires_at > ? ORDER BY rowid",
                    arguments: [clientID.rawValue, now])
            }
        }
        return try texts.map { try decode(Grant.self, $0) }
    }

    private func apply<Result: Sendable>(_ body: (inout Grant) -> GrantUpdate<Result>, to id: String, in db: Database) throws -> Result? {
        guard let text = try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM grants WHERE id = ?"), arguments: [id]) else {
            return nil
        }
        var grant = try decode(Grant.self, text)
        switch body(&grant) {
        case .keep(let result):
            return result
        case .save(let result, let newTokenHash):
            try db.cachedStatement(sql: "UPDATE grants SET record = ? WHERE id = ?").execute(arguments: [try encode(grant), id])
            if let newTokenHash {
                try db.cachedStatement(sql: "INSERT INTO refresh_tokens (key, grant_id, expires_at) VALUES (?, ?, ?)")
                    .execute(arguments: [StorageKey.refreshToken(hash: newTokenHash), id, grant.expiresAt.timeIntervalSince1970])
            }
            return result
        }
    }
}
