public import Foundation
import GRDB
public import PixyCore

/// InteractionStore on SQLite: the `sessions` and `pending_authorizations` tables.
extension SQLiteStore: InteractionStore {
    /// Stores or replaces a browser session under the hash of its cookie, for `ttl`.
    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        try await put("sessions", key: StorageKey.session(hash: key), record: session, ttl: ttl)
    }

    /// The session, if present and not expired.
    public func session(key: String) async throws -> BrowserSession? {
        try await get(BrowserSession.self, "sessions", key: StorageKey.session(hash: key))
    }

    /// Deletes a session.
    public func deleteSession(key: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE key = ?", arguments: [StorageKey.session(hash: key)])
        }
    }

    /// Stores or replaces a pending authorization under the hash of its transaction id, for `ttl`.
    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        try await put("pending_authorizations", key: StorageKey.pendingAuthorization(hash: key), record: pending, ttl: ttl)
    }

    /// The pending authorization, if present and not expired.
    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await get(PendingAuthorization.self, "pending_authorizations", key: StorageKey.pendingAuthorization(hash: key))
    }

    /// Removes and returns the pending authorization in one step, so an approval is used once (docs/security.md §8).
    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        let now = nowSeconds
        let row = try await database.write { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "DELETE FROM pending_authorizations WHERE key = ? RETURNING expires_at, record"),
                arguments: [StorageKey.pendingAuthorization(hash: key)])
        }
        guard let row, (row["expires_at"] as Double) > now else { return nil }
        return try decode(PendingAuthorization.self, row["record"])
    }
}
