import Foundation
import Logging
import PixyModel

/// Signing out of the browser session (the grants the user approved stay).
extension OAuthServer {
    /// `GET /logout`: a sign-out button (a POST with the CSRF token), so a link or an image on
    /// another site cannot sign the user out. With the `transactionID` of a request waiting in this
    /// browser ("Not you?" on the consent page), the form keeps it.
    public func signOutPage(transactionID: String?, cookie: String?) async throws -> InteractionResult {
        guard let current = try await sessions.current(cookie: cookie), current.session.userID != nil else {
            return InteractionResult(.signOut(.signedOut(afterSignOut: false)))
        }
        if case .found(let waiting) = try await waiting(transactionID, cookie: cookie) {
            return InteractionResult(
                .signOut(
                    .confirm(
                        csrfToken: current.session.csrfToken, transactionID: waiting.transactionID,
                        clientName: RedirectDisplay.name(of: waiting.client))))
        }
        return InteractionResult(.signOut(.confirm(csrfToken: current.session.csrfToken, transactionID: nil, clientName: nil)))
    }

    /// `POST /logout`: ends the browser session. With the `transactionID` of a request waiting in
    /// this session, the request moves to a fresh signed-out session and the browser goes back to
    /// its login page (a new session: no fixation, docs/threat-model.md).
    public func signOut(_ form: SignOutForm?, transactionID: String?, cookie: String?) async throws -> InteractionResult {
        guard let current = try await sessions.current(cookie: cookie) else {
            return InteractionResult(.signOut(.signedOut(afterSignOut: false)))
        }
        guard let form, FormOrigin.isGenuine(form.csrfToken, session: current.session) else {
            return InteractionResult(.forgedForm(.invalidRequest("This form was not sent from your sign-out page.")))
        }
        let waiting: Waiting? = if case .found(let found) = try await waiting(transactionID, cookie: cookie) { found } else { nil }
        try await stores.interactions.deleteSession(key: current.key)
        if let waiting, case let remaining = waiting.pending.expiresAt.timeIntervalSince(clock.now()), remaining >= 1 {
            let fresh = try await sessions.start(user: nil, authTime: nil, pendingAuthorizations: 1)
            var pending = waiting.pending
            pending.sessionKey = fresh.key
            try await stores.interactions.savePendingAuthorization(
                pending, key: SecretHash.sha256Hex(waiting.transactionID),
                ttl: .seconds(remaining))
            return InteractionResult(
                .step(.login, transactionID: waiting.transactionID),
                cookie: sessions.cookie(fresh.cookieValue, for: fresh.session))
        }
        return InteractionResult(.signOut(.signedOut(afterSignOut: true)), cookie: .clear)
    }
}
