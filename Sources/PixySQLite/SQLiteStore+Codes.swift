public import Foundation
import GRDB
public import PixyCore

/// AuthorizationCodeStore on SQLite: the `authorization_codes` table.
extension SQLiteStore: AuthorizationCodeStore {
    /// Stores a code record under its hash for `ttl`; a live code under the same hash is refused with ``StorageError/duplicateKey``.
    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        let text = try encode(record)
        let now = nowSeconds
        let expiresAt = expiry(ttl)
        try await database.write { db in
            // One statement: insert, or take over the key only if its previous holder has expired.
            try db.cachedStatement(
                sql: """
                    INSERT INTO authorization_codes (key, expires_at, record) VALUES (?, ?, ?)
                    ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at, record = excluded.record
                    WHERE authorization_codes.expires_at <= ?
                    """
            ).execute(arguments: [StorageKey.authorizationCode(hash: codeHash), expiresAt, text, now])
            guard db.changesCount == 1 else { throw StorageError.duplicateKey }
            try sweepIfDue(db, now: now)
        }
    }

    /// One statement, `DELETE … RETURNING`, inside a write transaction: SQLite serializes
    /// writers, so of N concurrent consumers exactly one sees the row (never find-then-delete).
    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        let now = nowSeconds
        let row = try await database.write { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "DELETE FROM authorization_codes WHERE key = ? RETURNING expires_at, record"),
                arguments: [StorageKey.authorizationCode(hash: codeHash)])
        }
        guard let row, (row["expires_at"] as Double) > now else { return nil }
        return try decode(AuthorizationCodeRecord.self, row["record"])
    }

    /// One write transaction: `DELETE … RETURNING` the code, run `redeem`, insert the marker. A
    /// failed check (or an undecodable record) still commits the delete and writes no marker; a
    /// failure of SQLite itself rolls back the whole step, leaving the code unconsumed and nothing
    /// issued.
    public func consumeCode<Redemption: Sendable>(
        codeHash: String, markingUsedFor ttl: Duration,
        after redeem: @Sendable (AuthorizationCodeRecord) throws -> (marker: UsedCodeMarker, redemption: Redemption)
    ) async throws -> Redemption? {
        let now = nowSeconds
        let outcome: Result<Redemption, any Error>? = try await database.write { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "DELETE FROM authorization_codes WHERE key = ? RETURNING expires_at, record"),
                    arguments: [StorageKey.authorizationCode(hash: codeHash)]),
                (row["expires_at"] as Double) > now
            else { return nil }
            let marker: UsedCodeMarker
            let redemption: Redemption
            let markerText: String
            do {
                (marker, redemption) = try redeem(try decode(AuthorizationCodeRecord.self, row["record"]))
                markerText = try encode(marker)
            } catch {
                return .failure(error)
            }
            // The marker's lifetime starts after the checks (and after any wait for the writer), so it
            // never ends before the access token it names.
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO used_codes (key, expires_at, record) VALUES (?, ?, ?)")
                .execute(arguments: [StorageKey.usedCode(hash: codeHash), expiry(ttl), markerText])
            try sweepIfDue(db, now: now)
            return .success(redemption)
        }
        return try outcome?.get()
    }
}
