public import Foundation
public import PixyCore
import PostgresNIO

/// AuthorizationCodeStore on PostgreSQL, used when no ephemeral store is named: `pixy_codes` and
/// `pixy_used_codes`.
extension PostgresStore: AuthorizationCodeStore {
    /// One statement: insert, or take over the key only if its previous holder has expired;
    /// a live code under the key is ``StorageError/duplicateKey``.
    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        let text = try encode(record)
        let now = nowSeconds
        let key = StorageKey.authorizationCode(hash: codeHash)
        let stored = try await execute(
            """
            INSERT INTO pixy_codes (key, expires_at, record) VALUES (\(key), \(now + ttl.timeInterval), \(text))
            ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, record = excluded.record
            WHERE pixy_codes.expires_at <= \(now) RETURNING 1
            """, "store code")
        guard stored == 1 else { throw StorageError.duplicateKey }
        try await sweepIfDue()
    }

    /// `DELETE … RETURNING`: of concurrent redemptions, only the one whose statement removed the
    /// row gets the record (docs/security.md §3).
    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        try await take(AuthorizationCodeRecord.self, "pixy_codes", key: StorageKey.authorizationCode(hash: codeHash))
    }

    /// Remembers the redeemed code for `ttl`.
    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try await put("pixy_used_codes", key: StorageKey.usedCode(hash: codeHash), record: marker, ttl: ttl)
    }

    /// The marker of a redeemed code, if still remembered.
    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try await get(UsedCodeMarker.self, "pixy_used_codes", key: StorageKey.usedCode(hash: codeHash))
    }
}

/// InteractionStore on PostgreSQL, used when no ephemeral store is named.
extension PostgresStore: InteractionStore {
    /// Stores or replaces a session for `ttl`.
    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        try await put("pixy_sessions", key: StorageKey.session(hash: key), record: session, ttl: ttl)
    }

    /// The session, if present and not expired.
    public func session(key: String) async throws -> BrowserSession? {
        try await get(BrowserSession.self, "pixy_sessions", key: StorageKey.session(hash: key))
    }

    /// Deletes a session.
    public func deleteSession(key: String) async throws {
        try await execute("DELETE FROM pixy_sessions WHERE key = \(StorageKey.session(hash: key))", "delete session")
    }

    /// Stores or replaces a pending authorization for `ttl`.
    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        try await put("pixy_pending_authorizations", key: StorageKey.pendingAuthorization(hash: key), record: pending, ttl: ttl)
    }

    /// The pending authorization, if present and not expired.
    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await get(PendingAuthorization.self, "pixy_pending_authorizations", key: StorageKey.pendingAuthorization(hash: key))
    }

    /// `DELETE … RETURNING`, as for codes: an approval is used once (docs/security.md §8).
    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await take(PendingAuthorization.self, "pixy_pending_authorizations", key: StorageKey.pendingAuthorization(hash: key))
    }
}

/// FailureCounting on PostgreSQL: one row per key with its count and the end of its window, each
/// change one statement, so N processes allow no more login attempts than one.
extension PostgresStore: FailureCounting {
    /// Failures in the key's current window.
    public func failures(for key: String) async throws -> Int {
        let now = nowSeconds
        return try await rows("SELECT count FROM pixy_login_failures WHERE key = \(key) AND ends_at > \(now)", "read login counter") {
            try $0.decode(Int.self)
        }.first ?? 0
    }

    /// Counts one failure, starting a new window if the last one ended.
    public func recordFailure(for key: String, window: Duration) async throws {
        let now = nowSeconds
        try await execute(
            """
            INSERT INTO pixy_login_failures (key, count, ends_at) VALUES (\(key), 1, \(now + window.timeInterval))
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN pixy_login_failures.ends_at > \(now) THEN pixy_login_failures.count + 1 ELSE 1 END,
                ends_at = CASE WHEN pixy_login_failures.ends_at > \(now) THEN pixy_login_failures.ends_at ELSE excluded.ends_at END
            """, "count login failure")
        try await sweepIfDue()
    }

    /// Forgets the key.
    public func clearFailures(for key: String) async throws {
        try await execute("DELETE FROM pixy_login_failures WHERE key = \(key)", "clear login counter")
    }

    /// Counts an attempt unless the window already holds `limit`: one conditional upsert, so
    /// parallel attempts cannot all pass a check made before any was counted.
    public func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool {
        guard limit > 0 else { return false }
        let now = nowSeconds
        let counted = try await execute(
            """
            INSERT INTO pixy_login_failures (key, count, ends_at) VALUES (\(key), 1, \(now + window.timeInterval))
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN pixy_login_failures.ends_at > \(now) THEN pixy_login_failures.count + 1 ELSE 1 END,
                ends_at = CASE WHEN pixy_login_failures.ends_at > \(now) THEN pixy_login_failures.ends_at ELSE excluded.ends_at END
            WHERE pixy_login_failures.ends_at <= \(now) OR pixy_login_failures.count < \(limit)
            RETURNING 1
            """, "reserve login attempt")
        try await sweepIfDue()
        return counted == 1
    }

    /// Takes one attempt back, never below zero, while the window lasts.
    public func releaseAttempt(for key: String) async throws {
        let now = nowSeconds
        try await execute(
            "UPDATE pixy_login_failures SET count = count - 1 WHERE key = \(key) AND ends_at > \(now) AND count > 0",
            "release login attempt")
    }
}

/// TokenBucketStoring on PostgreSQL: one row per bucket, refilled and taken from in one upsert.
extension PostgresStore: TokenBucketStoring {
    /// Refills the bucket for the time since it was last touched (at most `burst`), takes a token
    /// if there is one, all in one statement; `full_at` says when the bucket is full again, after
    /// which the row is swept (a full bucket and no bucket are the same).
    public func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision {
        guard refillPerSecond > 0, burst.isFinite else { throw StorageError.failed("postgres: a rate bucket needs a positive refill rate") }
        let at = now.timeIntervalSince1970
        let firstTokens = burst >= 1 ? burst - 1 : burst
        // $1 key, $2 tokens left after a first request, $3 now, $4 refill per second, $5 whether
        // a first request is allowed, $6 burst.
        let refilled = "LEAST($6, pixy_rate_buckets.tokens + GREATEST(0, $3 - pixy_rate_buckets.updated_at) * $4)"
        let left = "CASE WHEN \(refilled) >= 1 THEN \(refilled) - 1 ELSE \(refilled) END"
        var binds = PostgresBindings()
        binds.append(key)
        binds.append(firstTokens)
        binds.append(at)
        binds.append(refillPerSecond)
        binds.append(burst >= 1)
        binds.append(burst)
        let found = try await rows(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO pixy_rate_buckets (key, tokens, updated_at, full_at, allowed)
                    VALUES ($1, $2, $3, $3 + ($6 - $2) / $4, $5)
                    ON CONFLICT (key) DO UPDATE SET
                        tokens = \(left), allowed = \(refilled) >= 1, updated_at = $3, full_at = $3 + ($6 - \(left)) / $4
                    RETURNING tokens, allowed
                    """, binds: binds),
            "take rate-limit token"
        ) { try $0.decode((Double, Bool).self) }
        try await sweepIfDue()
        guard let (tokens, allowed) = found.first else { throw StorageError.failed("postgres: rate bucket upsert returned nothing") }
        let retryAfter = tokens >= 1 ? 0 : Int(((1 - tokens) / refillPerSecond).rounded(.up))
        return RateLimitDecision(isAllowed: allowed, retryAfter: retryAfter)
    }
}
