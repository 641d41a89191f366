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

    /// Creates a session and returns its cookie value (only its hash is stored).
    func startSession(userID: String?, authTime: Date?) async throws -> (cookieValue: String, key: String, session: BrowserSession) {
        let value = SecureRandom.token()
        let key = SecretHash.sha256Hex(value)
        let session = BrowserSession(csrfToken: SecureRandom.token(), userID: userID, authTime: authTime,
                                     expiresAt: environment.clock.now().addingTimeInterval(policy.sessionLifetime.timeInterval))
        try await interactions.saveSession(session, key: key, ttl: policy.sessionLifetime)
        return (value, key, session)
    }

    // MARK: GET /authorize

    func authorize(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard let parameters = RequestReading.query(request) else {
            return errorPage(.invalidRequest("The request could not be decoded."))
        }
        let authorization: AuthorizationRequest
        let client: Client
        do {
            (authorization, client) = try await validator.validateWithClient(parameters)
        } catch {
            if let (uri, state) = error.redirect {
                return Responses.redirect(to: AuthorizationResponse.failure(
                    redirectURI: uri, error: error.error, state: state, issuer: policy.issuer))
            }
            if let detail = error.error.detail { context.logger.info("authorize refused", metadata: ["detail": "\(detail)"]) }
            return errorPage(error.error, status: error.error.code == .serverError ? .internalServerError : .badRequest)
        }
        func redirectError(_ error: OAuthError) -> Response {
            Responses.redirect(to: AuthorizationResponse.failure(
                redirectURI: authorization.redirectURI, error: error, state: authorization.state, issuer: policy.issuer))
        }

        do {
            let existing = try await currentSession(request)
            var user: User?
            if let userID = existing?.session.userID { user = try await environment.stores.users.user(withID: userID) }
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
            var response: Response
            let sessionKey: String
            var setCookie: String?
            if let existing {
                sessionKey = existing.key
            } else {
                let fresh = try await startSession(userID: nil, authTime: nil)
                sessionKey = fresh.key
                setCookie = cookie.setCookie(fresh.cookieValue)
            }
            let transactionID = SecureRandom.token()
            let pending = PendingAuthorization(
                request: authorization, sessionKey: sessionKey,
                expiresAt: environment.clock.now().addingTimeInterval(policy.interactionLifetime.timeInterval))
            try await interactions.savePendingAuthorization(pending, key: SecretHash.sha256Hex(transactionID), ttl: policy.interactionLifetime)
            let next = needsLogin ? paths.login : paths.consent
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
        case "expired": "Your sign-in form expired. Please try again."
        default: nil
        }
        return Responses.html(pages.login(
            clientName: displayName(of: interaction.client), action: "\(paths.login)?tx=\(interaction.transactionID)",
            csrfToken: interaction.session.csrfToken, errorMessage: message))
    }

    func submitLogin(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return Responses.redirect(to: paths.login, status: .seeOther)
        }
        let back = "\(paths.login)?tx=\(interaction.transactionID)"
        guard let form = try? await RequestReading.form(request),
              hasValidCSRFToken(form, session: interaction.session)
        else { return Responses.redirect(to: back + "&error=expired", status: .seeOther) }
        let username = (try? form.single("username")) ?? nil ?? ""
        let password = (try? form.single("password")) ?? nil ?? ""
        let source = context.sourceKey

        guard try await environment.loginThrottle.allowsAttempt(username: username, source: source) else {
            context.logger.notice("login throttled")
            return Responses.redirect(to: back + "&error=throttled", status: .seeOther)
        }
        let user = try await environment.stores.users.user(named: username)
        // Always run bcrypt, against a decoy when the user is unknown: same time, same message.
        let matches = try await environment.passwords.verify(password, hash: user?.passwordHash ?? decoyPasswordHash)
        guard let user, matches else {
            try await environment.loginThrottle.recordFailure(username: username, source: source)
            context.logger.notice("login failed")
            return Responses.redirect(to: back + "&error=invalid", status: .seeOther)
        }
        try await environment.loginThrottle.recordSuccess(username: username)

        // A new session on login (no session fixation); the transaction moves with it.
        try await interactions.deleteSession(key: interaction.sessionKey)
        let now = environment.clock.now()
        let fresh = try await startSession(userID: user.id, authTime: now)
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
        response.headers[.setCookie] = cookie.setCookie(fresh.cookieValue)
        return response
    }

    // MARK: Consent

    func showConsent(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return errorPage(Self.expiredInteraction)
        }
        guard let userID = interaction.session.userID, let user = try await environment.stores.users.user(withID: userID) else {
            return Responses.redirect(to: "\(paths.login)?tx=\(interaction.transactionID)", status: .seeOther)
        }
        let authorization = interaction.pending.request
        // Step-up: with remembered consent, mark what this request adds.
        var newScopes = Set<String>()
        if ConsentPolicy.remembers(interaction.client),
           let record = try await environment.stores.consents.consent(userID: user.id, clientID: interaction.client.clientID,
                                                                         resource: authorization.resource) {
            newScopes = ConsentPolicy.newTokens(in: authorization, comparedTo: record)
        }
        return Responses.html(pages.consent(.init(
            clientName: displayName(of: interaction.client), clientID: interaction.client.clientID.rawValue,
            username: user.username, redirectHost: Self.host(of: authorization.redirectURI),
            scopes: authorization.scope.tokens.map { (name: $0, isNew: newScopes.contains($0)) }, resource: authorization.resource,
            isUnverified: interaction.client.isDynamicallyRegistered && !interaction.client.isMetadataDocument,
            metadataHost: interaction.client.isMetadataDocument ? ClientIDMetadataDocument.host(of: interaction.client.clientID.rawValue) : nil,
            action: "\(paths.consent)?tx=\(interaction.transactionID)", csrfToken: interaction.session.csrfToken)))
    }

    func submitConsent(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard case .found(let interaction) = try await lookUpInteraction(request) else {
            return Responses.redirect(to: paths.consent, status: .seeOther)
        }
        let back = "\(paths.consent)?tx=\(interaction.transactionID)"
        guard let userID = interaction.session.userID else {
            return Responses.redirect(to: "\(paths.login)?tx=\(interaction.transactionID)", status: .seeOther)
        }
        guard let form = try? await RequestReading.form(request),
              hasValidCSRFToken(form, session: interaction.session),
              let decision = try? form.single("decision"), decision == "approve" || decision == "deny"
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

    /// The host the user will be sent back to, as the consent page shows it (SECURITY.md §7):
    /// the authority of an http(s) URI, or the scheme of a private-use one.
    static func host(of uri: String) -> String {
        if let range = uri.range(of: "://") {
            let rest = uri[range.upperBound...]
            let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            return String(rest[..<end])
        }
        return uri.split(separator: ":", maxSplits: 1).first.map { "\($0): (an app on this device)" } ?? uri
    }
}
