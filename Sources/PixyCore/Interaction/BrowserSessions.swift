public import Foundation
import Logging
import PixyModel

/// The browser sessions behind the session cookie. Only the SHA-256 of a cookie value is stored
/// (`auth:session:<hash>`), so a store dump signs nobody in.
public struct BrowserSessions: Sendable {
    let store: any InteractionStore
    let policy: ServerPolicy
    let clock: any WallClock

    /// Creates the session keeper.
    public init(store: any InteractionStore, policy: ServerPolicy, clock: any WallClock) {
        self.store = store
        self.policy = policy
        self.clock = clock
    }

    /// A session found from its cookie.
    public struct Current: Sendable {
        /// The cookie's value, as the browser sent it.
        public var cookieValue: String
        /// The key the session is stored under.
        public var key: String
        /// The session.
        public var session: BrowserSession
    }

    /// The session behind a cookie value, if it exists and has not expired.
    public func current(cookie: String?) async throws -> Current? {
        guard let cookie, !cookie.isEmpty else { return nil }
        let key = SecretHash.sha256Hex(cookie)
        guard let session = try await store.session(key: key) else { return nil }
        return Current(cookieValue: cookie, key: key, session: session)
    }

    /// Creates a session and returns it with its cookie value. A session with nobody signed in
    /// lives only as long as the interaction it serves (unauthenticated state stays small); a
    /// signed-in one for the session lifetime.
    public func start(user: User?, authTime: Date?, pendingAuthorizations: Int = 0) async throws -> Current {
        let value = SecureRandom.token()
        let key = SecretHash.sha256Hex(value)
        let lifetime = user == nil ? policy.interactionLifetime : policy.sessionLifetime
        var session = BrowserSession(
            csrfToken: SecureRandom.token(), userID: user?.id, authTime: authTime,
            expiresAt: clock.now().addingTimeInterval(lifetime.timeInterval))
        session.userSessionVersion = user?.sessionVersion ?? (user == nil ? nil : 0)
        session.pendingAuthorizations = pendingAuthorizations
        try await store.saveSession(session, key: key, ttl: lifetime)
        return Current(cookieValue: value, key: key, session: session)
    }

    /// The cookie that keeps `session` in the browser for as long as it lives.
    public func cookie(_ value: String, for session: BrowserSession) -> SessionCookieChange {
        .set(value: value, maxAge: max(1, Int(session.expiresAt.timeIntervalSince(clock.now()))))
    }
}
