public import Foundation
public import PixyCore

/// AuthorizationCodeStore on Memcached.
extension MemcachedStore: AuthorizationCodeStore {
    /// `ms … ME` (add): a key that exists is ``StorageError/duplicateKey``.
    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        let bytes = try envelope(record, ttl: ttl)
        let key = itemKey(StorageKey.authorizationCode(hash: codeHash))
        let outcome = try await mapped { try await client.store(key, bytes, ttl: Self.seconds(ttl), mode: .add) }
        guard outcome == .stored else { throw StorageError.duplicateKey }
    }

    /// `mg` then `md C<cas>`: of N concurrent calls, only the one whose delete answers `HD` gets
    /// the record (docs/security.md §3).
    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        try await take(AuthorizationCodeRecord.self, key: StorageKey.authorizationCode(hash: codeHash))
    }

    /// Remembers the redeemed code for `ttl`; an evicted marker only means a later replay is
    /// refused without revoking what the code produced.
    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try await put(marker, key: StorageKey.usedCode(hash: codeHash), ttl: ttl)
    }

    /// The marker of a redeemed code, if still there.
    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try await read(UsedCodeMarker.self, key: StorageKey.usedCode(hash: codeHash))
    }
}

/// InteractionStore on Memcached: sessions and pending sign-ins, each with a TTL.
extension MemcachedStore: InteractionStore {
    /// Stores or replaces a session for `ttl`.
    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        try await put(session, key: StorageKey.session(hash: key), ttl: ttl)
    }

    /// The session, if present and not expired.
    public func session(key: String) async throws -> BrowserSession? {
        try await read(BrowserSession.self, key: StorageKey.session(hash: key))
    }

    /// Deletes a session.
    public func deleteSession(key: String) async throws {
        let item = itemKey(StorageKey.session(hash: key))
        _ = try await mapped { try await client.delete(item) }
    }

    /// Stores or replaces a pending authorization for `ttl`.
    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        try await put(pending, key: StorageKey.pendingAuthorization(hash: key), ttl: ttl)
    }

    /// The pending authorization, if present and not expired.
    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await read(PendingAuthorization.self, key: StorageKey.pendingAuthorization(hash: key))
    }

    /// `mg` then `md C<cas>`, as for codes: an approval is used once (docs/security.md §8).
    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await take(PendingAuthorization.self, key: StorageKey.pendingAuthorization(hash: key))
    }
}

/// FailureCounting on Memcached: `"<count> <window end>"` under `auth:throttle:<key>`, changed by
/// compare-and-swap, so N processes allow no more login attempts than one.
extension MemcachedStore: FailureCounting {
    private func throttleKey(_ key: String) -> String { "auth:throttle:\(key)" }

    private func parseWindow(_ text: String?) -> (count: Int, ends: Double)? {
        guard let parts = text?.split(separator: " "), parts.count == 2, let count = Int(parts[0]), let ends = Double(parts[1]),
            ends > now.timeIntervalSince1970
        else { return nil }
        return (count, ends)
    }

    private func ttl(of value: String) -> Int {
        let ends = value.split(separator: " ").last.flatMap { Double($0) } ?? 0
        return Self.seconds(.seconds(max(1, ends - now.timeIntervalSince1970)))
    }

    /// Failures in the key's current window.
    public func failures(for key: String) async throws -> Int {
        let item = itemKey(throttleKey(key))
        let current = try await mapped { try await client.get(item) }
        return parseWindow(current.map { String(decoding: $0.value, as: UTF8.self) })?.count ?? 0
    }

    /// Counts one failure, starting a new window if the last one ended.
    public func recordFailure(for key: String, window: Duration) async throws {
        let start = now.timeIntervalSince1970
        try await update(key: throttleKey(key), ttl: ttl(of:)) { current in
            let window = parseWindow(current) ?? (0, start + window.timeInterval)
            return ("\(window.count + 1) \(window.ends)", ())
        }
    }

    /// Forgets the key.
    public func clearFailures(for key: String) async throws {
        let item = itemKey(throttleKey(key))
        _ = try await mapped { try await client.delete(item) }
    }

    /// Counts an attempt unless the window already holds `limit`.
    public func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool {
        let start = now.timeIntervalSince1970
        return try await update(key: throttleKey(key), ttl: ttl(of:)) { current in
            let window = parseWindow(current) ?? (0, start + window.timeInterval)
            guard window.count < limit else { return (nil, false) }
            return ("\(window.count + 1) \(window.ends)", true)
        }
    }

    /// Takes one attempt back, never below zero, while the window lasts.
    public func releaseAttempt(for key: String) async throws {
        try await update(key: throttleKey(key), ttl: ttl(of:)) { current in
            guard let window = parseWindow(current), window.count > 0 else { return (nil, ()) }
            return ("\(window.count - 1) \(window.ends)", ())
        }
    }
}

/// TokenBucketStoring on Memcached: `"<tokens> <updated at>"` under `auth:bucket:<key>`, changed
/// by compare-and-swap; the item lives until the bucket would be full again (a full bucket and no
/// bucket are the same).
extension MemcachedStore: TokenBucketStoring {
    /// Refills, takes a token if there is one, and writes back, as one compare-and-swap.
    public func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision {
        guard refillPerSecond > 0 else { throw StorageError.failed("memcached: a rate bucket needs a positive refill rate") }
        let at = now.timeIntervalSince1970
        var left = 0.0
        let allowed = try await update(
            key: "auth:bucket:\(key)",
            ttl: { value in
                let tokens = value.split(separator: " ").first.flatMap { Double($0) } ?? 0
                return Self.seconds(.seconds(max(1, (burst - tokens) / refillPerSecond + 1)))
            }
        ) { current -> (value: String?, result: Bool) in
            var tokens = burst
            if let parts = current?.split(separator: " "), parts.count == 2, let stored = Double(parts[0]), let updated = Double(parts[1]) {
                tokens = min(burst, stored + max(0, at - updated) * refillPerSecond)
            }
            let isAllowed = tokens >= 1
            if isAllowed { tokens -= 1 }
            left = tokens
            return ("\(tokens) \(at)", isAllowed)
        }
        let retryAfter = left >= 1 ? 0 : Int(((1 - left) / refillPerSecond).rounded(.up))
        return RateLimitDecision(isAllowed: allowed, retryAfter: retryAfter)
    }
}
