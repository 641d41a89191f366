import Foundation
import Hummingbird
import Logging
import PixyCore
import PixyModel

/// `GET /authorize`, the login page and the consent page (RFC 6749 §4.1.1–4.1.2).
extension AuthorizationServer {
    private var policy: ServerPolicy { environment.policy }
    private var interactions: any InteractionStore { environment.stores.interactions }

    /// The browser session behind the request's cookie, with the key it is stored under.
    func currentSession(_ request: Request) async throws -> (key: String, session: BrowserSession)? {
        guard let value = RequestReading.cookie(request, named: cookie.name), !value.isEmpty else { return nil }
        let key = SecretHash.sha256Hex(value)
        guard let session = try await interactions.session(key: key) else { return nil }
        return (key, session)
    }

    /// Creates a session and returns its cookie value (only its hash is stored). A session with
    /// nobody signed in lives only as long as the interaction it serves (unauthenticated state
    /// stays small); a signed-in one for the session lifetime.
    func startSession(user: User?, authTime: Date?, pendingAuthorizations: Int = 0) async throws -> (cookieValue: String, key: String, session: BrowserSession) {
        let value = SecureRandom.token()
        let key = SecretHash.sha256Hex(value)
        let lifetime = user == nil ? policy.interactionLifetime : policy.sessionLifetime
        var session = BrowserSession(csrfToken: SecureRandom.token(), userID: user?.id, authTime: authTime,
                                     expiresAt: environment.clock.now().addingTimeInterval(lifetime.timeInterval))
        session.userSessionVersion = user?.sessionVersion ?? (user == nil ? nil : 0)
        session.pendingAuthorizations = pendingAuthorizations
        try await interactions.saveSession(session, key: key, ttl: lifetime)
        return (value, key, session)
    }

    /// The `Set-Cookie` value for a session.
    func setCookie(_ cookieValue: String, for session: BrowserSession) -> String {
        cookie.setCookie(cookieValue, maxAge: max(1, Int(session.expiresAt.timeIntervalSince(environment.clock.now()))))
    }

    // MARK: GET /authorize

    /// Longest query string `/authorize` reads: a request is a handful of short parameters.
    static let maximumAuthorizationQuery = 8 * 1024

    func authorize(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard (request.uri.query?.utf8.count ?? 0) <= Self.maximumAuthorizationQuery else {
            return errorPage(.invalidRequest("The authorization request is too long."))
        }
        guard let parameters = RequestReading.query(request) else {
            return errorPage(.invalidRequest("The request could not be decoded."))
        }
        let existing = try await currentSession(request)
        var user: User?
        if let existing { user = try await SessionValidity.signedInUser(of: existing.session, users: environment.stores.users) }

        let authorization: AuthorizationRequest
        let client: Client
        do {
            (authorization, client) = try await validator.validateWithClient(parameters)
        } catch {
            if let (uri, state) = error.redirect, let client = error.client {
                let location = AuthorizationResponse.failure(redirectURI: uri, error: error.error, state: state, issuer: policy.issuer)
                if ErrorRedirectPolicy.mayRedirect(for: client, userIsSignedIn: user != nil) {
                    return Responses.redirect(to: location)
                }
                return errorPage(error.error, continueURL: location)
            }
            if let detail = error.error.detail { context.logger.info("authorize refused", metadata: ["detail": "\(detail)"]) }
            return errorPage(error.error, status: error.error.code == .serverError ? .internalServerError : .badRequest)
        }
        func redirectError(_ error: OAuthError) -> Response {
            let location = AuthorizationResponse.failure(
                redirectURI: authorization.redirectURI, error: error, state: authorization.state, issuer: policy.issuer)
            guard ErrorRedirectPolicy.mayRedirect(for: client, userIsSignedIn: user != nil) else {
                return errorPage(error, continueURL: location)
            }
            return Responses.redirect(to: location)
        }

        do {
            let needsLogin = user == nil || authorization.prompt.contains(.login)
            let needsConsent = try await needsConsent(authorization, client: client, userID: user?.id)

            if authorization.prompt.contains(.none) {
                if needsLogin { return redirectError(OAuthError(.loginRequired, "The user is not signed in.")) }
                if needsConsent { return redirectError(OAuthError(.consentRequired, "The user must approve this application.")) }
            }
            if let user, let session = existing?.session, !needsLogin, !needsConsent {
                let (_, location) = try await codeIssuer.issueCode(
                    for: authorization, subject: user.id, authTime: session.authTime ?? environment.clock.now())
                return Responses.redirect(to: location)
            }

            // Interaction needed: keep the request server-side, bound to this browser's session.
            // Storing state for whoever asks is what the per-source limit and, before sign-in, the
            // per-session cap guard (a signed-in user's requests are attributable and not capped).
            let limit = try await environment.authorizationLimiter.take(context.sourceKey)
            guard limit.isAllowed else {
                context.logger.notice("authorize rate-limited", metadata: ["source": "\(context.sourceKey)"])
                var response = errorPage(OAuthError(.temporarilyUnavailable, "Too many sign-in requests from your network. Wait a moment and try again."))
                response.status = .tooManyRequests
                response.headers[.retryAfter] = String(max(1, limit.retryAfter))
                return response
            }
            var response: Response
            let sessionKey: String
            var setCookie: String?
            if let existing, user != nil {
                sessionKey = existing.key
            } else if let existing, existing.session.userID == nil,
                      (existing.session.pendingAuthorizations ?? 0) < policy.maximumPendingAuthorizationsPerSession {
                // Nobody signed in: count the request, and let the session live as long as this
                // newest interaction.
                sessionKey = existing.key
                var session = existing.session
                session.pendingAuthorizations = (session.pendingAuthorizations ?? 0) + 1
                session.expiresAt = environment.clock.now().addingTimeInterval(policy.interactionLifetime.timeInterval)
                try await interactions.saveSession(session, key: existing.key, ttl: policy.interactionLifetime)
                setCookie = self.setCookie(RequestReading.cookie(request, named: cookie.name) ?? "", for: session)
            } else {
                // No usable session, or one with too many requests waiting: start afresh.
                if let existing, existing.session.userID == nil { try await interactions.deleteSession(key: existing.key) }
                let fresh = try await startSession(user: nil, authTime: nil, pendingAuthorizations: 1)
                sessionKey = fresh.key
                setCookie = self.setCookie(fresh.cookieValue, for: fresh.session)
            }
            let transactionID = SecureRandom.token()
            let pending = PendingAuthorization(
                request: authorization, sessionKey: sessionKey,
                expiresAt: environment.clock.now().addingTimeInterval(policy.interactionLifetime.timeInterval))
            try await interactions.savePendingAuthorization(pending, key: SecretHash.sha256Hex(transactionID), ttl: policy.interactionLifetime)
            let stillSignedIn = user != nil && sessionKey == existing?.key
            let next = needsLogin || !stillSignedIn ? paths.login : paths.consent
            response = Responses.redirect(to: "\(next)?tx=\(transactionID)", status: .seeOther)
            if let setCookie { response.headers[.setCookie] = setCookie }
            return response
        } catch {
            context.logger.error("authorize failed", metadata: ["error": "\(error)"])
            // RFC 6749 §4.1.2.1: a redirect cannot carry 503, so a store outage is said with
            // `temporarily_unavailable`; anything else is `server_error`.
            let failure = OAuthError.storageFailure(error, while: "authorize")
            return redirectError(failure.isTemporary
                ? OAuthError(.temporarilyUnavailable, "The authorization server is temporarily unavailable; try again shortly.")
                : failure)
        }
    }

    // MARK: Shared by the pages

    /// Whether the consent page must be shown: not for a first-party `--skip-consent` client,
    /// nor when remembered consent covers the request (pre-registered confidential clients only,
    /// RFC 8252 §8.6); always with `prompt=consent`.
    func needsConsent(_ request: AuthorizationRequest, client: Client, userID: String?) async throws -> Bool {
        if request.prompt.contains(.consent) { return true }
        if client.maySkipConsent { return false }
        guard let userID, ConsentPolicy.remembers(client) else { return true }
        let record = try await environment.stores.consents.consent(userID: userID, clientID: client.clientID, resource: request.resource)
        return !ConsentPolicy.isCovered(request, by: record, for: client)
    }

    /// What every page request needs: the session and the pending authorization bound to it.
    struct Interaction {
        var sessionKey: String
        var session: BrowserSession
        var transactionID: String
        var pending: PendingAuthorization
        var client: Client
    }

    enum InteractionLookup {
        case found(Interaction)
        case failed(OAuthError)
    }

    static let expiredInteraction = OAuthError.invalidRequest(
        "This sign-in request has expired or was already used. Return to the application and start again.")

    func lookUpInteraction(_ request: Request) async throws -> InteractionLookup {
        guard let transactionID = RequestReading.query(request)?.values("tx").first,
              let (sessionKey, session) = try await currentSession(request),
              let pending = try await interactions.pendingAuthorization(key: SecretHash.sha256Hex(transactionID)),
              ConstantTime.isEqual(pending.sessionKey, sessionKey)
        else { return .failed(Self.expiredInteraction) }
        guard let client = try await environment.stores.clients.client(withID: pending.request.clientID) else {
            return .failed(.invalidRequest("The application is no longer registered."))
        }
        return .found(Interaction(sessionKey: sessionKey, session: session, transactionID: transactionID, pending: pending, client: client))
    }

    func displayName(of client: Client) -> String {
        if let name = client.clientName, !name.isEmpty { return name }
        return client.clientID.rawValue
    }

    /// Checks the CSRF token of a POST against the session's (SECURITY.md §8), in constant time.
    func hasValidCSRFToken(_ form: FormParameters, session: BrowserSession) -> Bool {
        guard let presented = try? form.single("csrf_token") else { return false }
        return ConstantTime.isEqual(presented, session.csrfToken)
    }

    /// Issues a code for a pending authorization that has just been consumed, or sends the error.
    func finish(_ pending: PendingAuthorization, userID: String, authTime: Date, approved: Bool) async throws -> Response {
        let request = pending.request
        guard approved else {
            return Responses.redirect(to: AuthorizationResponse.failure(
                redirectURI: request.redirectURI, error: OAuthError(.accessDenied, "The user denied the request."),
                state: request.state, issuer: policy.issuer), status: .seeOther)
        }
        let (_, location) = try await codeIssuer.issueCode(for: request, subject: userID, authTime: authTime)
        return Responses.redirect(to: location, status: .seeOther)
    }

    // MARK: Login

    func showLogin(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return errorPage(Self.expiredInteraction)
        }
        let message: String? = switch RequestReading.query(request)?.values("error").first {
        case "invalid": "The username or password is incorrect."
        case "throttled": "Too many failed attempts. Wait a few minutes and try again."
        case "busy": "The server is busy checking other sign-ins. Try again in a moment."
        case "expired": "Your sign-in form expired. Please try again."
        default: nil
        }
        let client = interaction.client
        return Responses.html(pages.login(
            clientName: displayName(of: client), action: "\(paths.login)?tx=\(interaction.transactionID)",
            csrfToken: interaction.session.csrfToken, errorMessage: message,
            isUnverified: client.isDynamicallyRegistered && !client.isMetadataDocument,
            metadataHost: client.isMetadataDocument ? ClientIDMetadataDocument.host(of: client.clientID.rawValue) : nil))
    }

    func submitLogin(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return Responses.redirect(to: paths.login, status: .seeOther)
        }
        let back = "\(paths.login)?tx=\(interaction.transactionID)"
        guard let form = try? await RequestReading.form(request),
              hasValidCSRFToken(form, session: interaction.session)
        else { return Responses.redirect(to: back + "&error=expired", status: .seeOther) }
        let username = Username.canonical((try? form.single("username")) ?? nil ?? "")
        let password = (try? form.single("password")) ?? nil ?? ""
        let source = context.sourceKey

        // The account counter is keyed on the resolved user (or the canonical name when there is
        // none), and the attempt is counted before bcrypt runs: parallel guesses cannot all pass.
        let user = try await environment.stores.users.user(named: username)
        let account = user?.id ?? "unknown:" + username
        guard let reservation = try await environment.loginThrottle.reserve(account: account, source: source) else {
            context.logger.notice("login throttled", metadata: ["source": "\(source)"])
            return Responses.redirect(to: back + "&error=throttled", status: .seeOther)
        }
        // Always run bcrypt, against a decoy when the user is unknown: same time, same message.
        let hash = user?.passwordHash ?? decoyPasswordHash
        guard let verified = try await environment.passwordWork.run(key: account, {
            try await environment.passwords.verify(password, hash: hash)
        }) else {
            try await environment.loginThrottle.cancel(reservation)
            context.logger.notice("login refused: password checks busy", metadata: ["source": "\(source)"])
            return Responses.redirect(to: back + "&error=busy", status: .seeOther)
        }
        guard let user, verified else {
            context.logger.notice("login failed", metadata: ["source": "\(source)"])
            return Responses.redirect(to: back + "&error=invalid", status: .seeOther)
        }
        try await environment.loginThrottle.succeeded(reservation)

        // A new session on login (no session fixation); the transaction moves with it.
        try await interactions.deleteSession(key: interaction.sessionKey)
        let now = environment.clock.now()
        let fresh = try await startSession(user: user, authTime: now)
        var pending = interaction.pending
        pending.sessionKey = fresh.key
        let transactionKey = SecretHash.sha256Hex(interaction.transactionID)

        var response: Response
        if try await !needsConsent(pending.request, client: interaction.client, userID: user.id) {
            guard try await interactions.consumePendingAuthorization(key: transactionKey) != nil else {
                return Responses.redirect(to: back, status: .seeOther)
            }
            response = try await finish(pending, userID: user.id, authTime: now, approved: true)
        } else {
            let remaining = max(1, pending.expiresAt.timeIntervalSince(now))
            try await interactions.savePendingAuthorization(pending, key: transactionKey, ttl: .seconds(remaining))
            response = Responses.redirect(to: "\(paths.consent)?tx=\(interaction.transactionID)", status: .seeOther)
        }
        response.headers[.setCookie] = setCookie(fresh.cookieValue, for: fresh.session)
        return response
    }

    // MARK: Consent

    func showConsent(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return errorPage(Self.expiredInteraction)
        }
        guard let user = try await SessionValidity.signedInUser(of: interaction.session, users: environment.stores.users) else {
            return Responses.redirect(to: "\(paths.login)?tx=\(interaction.transactionID)", status: .seeOther)
        }
        let authorization = interaction.pending.request
        // Step-up: mark what this request adds to what the user already approved for this client
        // and resource, remembered or held as a live grant (public clients too; RFC 8252 §8.6).
        let record = ConsentPolicy.remembers(interaction.client)
            ? try await environment.stores.consents.consent(userID: user.id, clientID: interaction.client.clientID,
                                                            resource: authorization.resource)
            : nil
        let grants = try await environment.stores.grants.grants(of: .user(id: user.id))
        let newScopes = ConsentPolicy.newTokens(in: authorization, for: interaction.client, remembered: record, grants: grants,
                                                now: environment.clock.now())
        return Responses.html(pages.consent(.init(
            clientName: displayName(of: interaction.client), clientID: interaction.client.clientID.rawValue,
            username: user.username, redirectHost: Self.host(of: authorization.redirectURI),
            scopes: authorization.scope.tokens.map { (name: $0, isNew: newScopes.contains($0)) }, resource: authorization.resource,
            isUnverified: interaction.client.isDynamicallyRegistered && !interaction.client.isMetadataDocument,
            metadataHost: interaction.client.isMetadataDocument ? ClientIDMetadataDocument.host(of: interaction.client.clientID.rawValue) : nil,
            action: "\(paths.consent)?tx=\(interaction.transactionID)", csrfToken: interaction.session.csrfToken,
            logoutURL: "\(paths.logout)?tx=\(interaction.transactionID)")))
    }

    func submitConsent(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return Responses.redirect(to: paths.consent, status: .seeOther)
        }
        let back = "\(paths.consent)?tx=\(interaction.transactionID)"
        guard let user = try await SessionValidity.signedInUser(of: interaction.session, users: environment.stores.users) else {
            return Responses.redirect(to: "\(paths.login)?tx=\(interaction.transactionID)", status: .seeOther)
        }
        let userID = user.id
        // A POST without this browser's CSRF token is forged, not merely stale: refuse it outright.
        guard let form = try? await RequestReading.form(request), hasValidCSRFToken(form, session: interaction.session) else {
            context.logger.notice("consent refused: missing or foreign CSRF token", metadata: ["source": "\(context.sourceKey)"])
            var response = errorPage(.invalidRequest("This form was not sent from your sign-in page. Return to the application and start again."))
            response.status = .forbidden
            return response
        }
        guard let decision = try? form.single("decision"), decision == "approve" || decision == "deny"
        else { return Responses.redirect(to: back, status: .seeOther) }

        // Consume the transaction atomically: an approval can be used once (SECURITY.md §8).
        guard let pending = try await interactions.consumePendingAuthorization(key: SecretHash.sha256Hex(interaction.transactionID)),
              ConstantTime.isEqual(pending.sessionKey, interaction.sessionKey)
        else { return Responses.redirect(to: back, status: .seeOther) }
        if decision == "approve", ConsentPolicy.remembers(interaction.client) {
            let consents = environment.stores.consents
            let previous = try await consents.consent(userID: userID, clientID: interaction.client.clientID, resource: pending.request.resource)
            try await consents.saveConsent(ConsentPolicy.remembering(pending.request, after: previous, now: environment.clock.now()),
                                           userID: userID, clientID: interaction.client.clientID, resource: pending.request.resource)
        }
        return try await finish(pending, userID: userID, authTime: interaction.session.authTime ?? environment.clock.now(),
                                approved: decision == "approve")
    }

    /// The host the user will be sent back to, as the consent page shows it (docs/threat-model.md):
    /// the authority of an http(s) URI; for any other scheme the app it names, since a private-use
    /// URI such as `com.example.app://claude.ai/cb` reaches an app on the device, whatever host it
    /// appears to name (RFC 8252 §7.1).
    static func host(of uri: String) -> String {
        let lowered = uri.lowercased()
        if lowered.hasPrefix("https://") || lowered.hasPrefix("http://"), let range = uri.range(of: "://") {
            let rest = uri[range.upperBound...]
            let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            return String(rest[..<end])
        }
        let scheme = uri.split(separator: ":", maxSplits: 1).first.map(String.init) ?? uri
        return "an app on this device (\(scheme))"
    }

    // MARK: Logout

    /// `GET /logout`: a sign-out button (POST with the CSRF token), so a link or an image on
    /// another site cannot sign the user out. With the `tx` of a request waiting in this browser
    /// ("Not you?" on the consent page), the form keeps it, and signing out leads back to sign-in.
    func showLogout(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard let (_, session) = try await currentSession(request), session.userID != nil else {
            return Responses.html(pages.signedOut(title: "You are signed out", action: paths.logout, csrfToken: nil))
        }
        let title = "Sign out of \(pages.branding.name)?"
        if case .found(let interaction) = try await lookUpInteraction(request) {
            return Responses.html(pages.signedOut(
                title: title, action: "\(paths.logout)?tx=\(interaction.transactionID)", csrfToken: session.csrfToken,
                lead: "Then sign in as yourself to continue to \(displayName(of: interaction.client))."))
        }
        return Responses.html(pages.signedOut(title: title, action: paths.logout, csrfToken: session.csrfToken))
    }

    /// `POST /logout`: ends the browser session (the grants the user approved stay). With the `tx`
    /// of a request waiting in this session, the request moves to a fresh signed-out session and
    /// the browser goes back to the login page for it (a new session: no fixation, docs/threat-model.md).
    func submitLogout(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard let (key, session) = try await currentSession(request) else {
            return Responses.html(pages.signedOut(title: "You are signed out", action: paths.logout, csrfToken: nil))
        }
        guard let form = try? await RequestReading.form(request), hasValidCSRFToken(form, session: session) else {
            var response = errorPage(.invalidRequest("This form was not sent from your sign-out page."))
            response.status = .forbidden
            return response
        }
        let waiting: Interaction? = if case .found(let interaction) = try await lookUpInteraction(request) { interaction } else { nil }
        try await interactions.deleteSession(key: key)
        if let waiting, case let remaining = waiting.pending.expiresAt.timeIntervalSince(environment.clock.now()), remaining >= 1 {
            let fresh = try await startSession(user: nil, authTime: nil, pendingAuthorizations: 1)
            var pending = waiting.pending
            pending.sessionKey = fresh.key
            try await interactions.savePendingAuthorization(pending, key: SecretHash.sha256Hex(waiting.transactionID),
                                                            ttl: .seconds(remaining))
            var response = Responses.redirect(to: "\(paths.login)?tx=\(waiting.transactionID)", status: .seeOther)
            response.headers[.setCookie] = setCookie(fresh.cookieValue, for: fresh.session)
            return response
        }
        var response = Responses.html(pages.signedOut(title: "You are signed out", action: paths.logout, csrfToken: nil,
                                                      lead: "Return to the application to sign in again."))
        response.headers[.setCookie] = cookie.expired
        return response
    }
}
