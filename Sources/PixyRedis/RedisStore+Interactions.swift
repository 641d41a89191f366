import Foundation
public import PixyCore
import PixyRESP

/// InteractionStore on Redis: browser sessions and pending authorizations (with a TTL).
extension RedisStore: InteractionStore {
    /// Stores or replaces a browser session under the hash of its cookie, for `ttl`.
    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        _ = try await putExpiring(session, key: keys.session(hash: key), ttl: ttl)
    }

    /// The session, if present and not expired.
    public func session(key: String) async throws -> BrowserSession? {
        try expiring(BrowserSession.self, from: try await get(keys.session(hash: key)))
    }

    /// Deletes a session.
    public func deleteSession(key: String) async throws {
        try await send(["DEL", keys.session(hash: key)])
    }

    /// Stores or replaces a pending authorization under the hash of its transaction id, for `ttl`.
    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        _ = try await putExpiring(pending, key: keys.pendingAuthorization(hash: key), ttl: ttl)
    }

    /// The pending authorization, if present and not expired.
    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try expiring(PendingAuthorization.self, from: try await get(keys.pendingAuthorization(hash: key)))
    }

    /// `GETDEL`, as for codes: an approval is used once (docs/security.md §8).
    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try expiring(PendingAuthorization.self, from: try await send(["GETDEL", keys.pendingAuthorization(hash: key)]).string)
    }
}
