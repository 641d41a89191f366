public import Foundation
import Logging
import PixyModel

/// `GET /authorize` (RFC 6749 §4.1.1–4.1.2): validate, then issue a code at once or keep the
/// request waiting for the login or consent page.
extension OAuthServer {
    /// Answers an authorization request, already decoded from the query, from the browser that
    /// holds `cookie`.
    ///
    /// A store failure it cannot turn into an answer for the client is thrown: the transport shows
    /// an error page, never a redirect (docs/security.md §10: fail closed).
    public func authorize(_ query: FormParameters, cookie: String?, caller: Caller) async throws -> InteractionResult {
        let existing = try await sessions.current(cookie: cookie)
        var user: User?
        if let existing { user = try await SessionValidity.signedInUser(of: existing.session, users: stores.users) }

        let authorization: AuthorizationRequest
        let client: Client
        do {
            (authorization, client) = try await validator.validateWithClient(query)
        } catch {
            if let (uri, state) = error.redirect, let client = error.client {
                let location = AuthorizationResponse.failure(redirectURI: uri, error: error.error, state: state, issuer: policy.issuer)
                if ErrorRedirectPolicy.mayRedirect(for: client, userIsSignedIn: user != nil) {
                    return InteractionResult(.client(location: location))
                }
                return InteractionResult(.errorPage(error.error, continueURL: location))
            }
            if let detail = error.error.logReason { caller.logger.info("authorize refused", metadata: ["detail": "\(detail)"]) }
            return InteractionResult(.errorPage(error.error))
        }
        let redirectsErrors = ErrorRedirectPolicy.mayRedirect(for: client, userIsSignedIn: user != nil)
        func redirect(_ error: OAuthError) -> InteractionResult {
            let location = AuthorizationResponse.failure(
                redirectURI: authorization.redirectURI, error: error, state: authorization.state, issuer: policy.issuer)
            return InteractionResult(redirectsErrors ? .client(location: location) : .errorPage(error, continueURL: location))
        }

        do {
            let needsLogin = LoginRequirement.applies(to: authorization, signedIn: user)
            let needsConsent = try await ConsentRequirement.applies(
                to: authorization, client: client, userID: user?.id,
                consents: stores.consents)
            if let refusal = SilentAuthorization.refusal(for: authorization, needsLogin: needsLogin, needsConsent: needsConsent) {
                return redirect(refusal)
            }
            if let user, let session = existing?.session, !needsLogin, !needsConsent {
                let (_, location) = try await codeIssuer.issueCode(
                    for: authorization, subject: user.id,
                    authTime: session.authTime ?? clock.now())
                return InteractionResult(.client(location: location))
            }
            return try await keepWaiting(
                authorization, existing: existing, isSignedIn: user != nil, needsLogin: needsLogin,
                caller: caller)
        } catch {
            caller.logger.error("authorize failed", metadata: ["error": "\(error)"])
            // RFC 6749 §4.1.2.1: a redirect cannot carry 503, so a store outage is said with
            // `temporarily_unavailable`; anything else is `server_error`.
            let failure = OAuthError.storageFailure(error, while: "authorize")
            return redirect(
                failure.isTemporary
                    ? OAuthError(.temporarilyUnavailable, "The authorization server is temporarily unavailable; try again shortly.")
                    : failure)
        }
    }

    /// The error page when `caller`'s source has used up its budget of requests that store state
    /// (``Limits/authorization``), else `nil` (and one request is counted).
    func authorizationLimitRefusal(_ caller: Caller, while step: String) async throws -> InteractionResult? {
        let limit = try await limits.authorization.take(caller.source)
        guard !limit.isAllowed else { return nil }
        caller.logger.notice("\(step) rate-limited", metadata: ["source": "\(caller.source)"])
        return InteractionResult(
            .errorPage(
                OAuthError(
                    .temporarilyUnavailable, "Too many sign-in requests from your network. Wait a moment and try again.",
                    condition: .rateLimited(retryAfter: max(1, limit.retryAfter)))))
    }

    /// Interaction needed: keeps the request server-side, bound to this browser's session, and
    /// sends the browser to the page it needs first. Storing state for whoever asks is what the
    /// per-source limit and, before sign-in, ``PendingAuthorizationCap`` guard.
    func keepWaiting(
        _ authorization: AuthorizationRequest, existing: BrowserSessions.Current?, isSignedIn: Bool,
        needsLogin: Bool, caller: Caller
    ) async throws -> InteractionResult {
        if let refusal = try await authorizationLimitRefusal(caller, while: "authorize") { return refusal }
        let sessionKey: String
        var cookie: SessionCookieChange?
        if let existing, isSignedIn {
            sessionKey = existing.key
        } else if let existing, PendingAuthorizationCap.admits(existing.session, policy: policy) {
            // Nobody signed in: count the request, and let the session live as long as this
            // newest interaction.
            sessionKey = existing.key
            var session = existing.session
            session.pendingAuthorizations = (session.pendingAuthorizations ?? 0) + 1
            session.expiresAt = clock.now().addingTimeInterval(policy.interactionLifetime.timeInterval)
            try await stores.interactions.saveSession(session, key: existing.key, ttl: policy.interactionLifetime)
            cookie = sessions.cookie(existing.cookieValue, for: session)
        } else {
            // No usable session, or one with too many requests waiting: start afresh.
            if let existing, existing.session.userID == nil { try await stores.interactions.deleteSession(key: existing.key) }
            let fresh = try await sessions.start(user: nil, authTime: nil, pendingAuthorizations: 1)
            sessionKey = fresh.key
            cookie = sessions.cookie(fresh.cookieValue, for: fresh.session)
        }
        let transactionID = SecureRandom.token()
        let pending = PendingAuthorization(
            request: authorization, sessionKey: sessionKey,
            expiresAt: clock.now().addingTimeInterval(policy.interactionLifetime.timeInterval))
        try await stores.interactions.savePendingAuthorization(
            pending, key: SecretHash.sha256Hex(transactionID),
            ttl: policy.interactionLifetime)
        let stillSignedIn = isSignedIn && sessionKey == existing?.key
        let step: InteractionStep = needsLogin || !stillSignedIn ? .login : .consent
        return InteractionResult(.step(step, transactionID: transactionID), cookie: cookie)
    }
}
