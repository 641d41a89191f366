public import Foundation
import Logging
import PixyModel

/// The login page: who the user is (RFC 6749 §3.1 leaves how to the server).
extension OAuthServer {
    /// A waiting request and the session it is bound to.
    struct Waiting: Sendable {
        var session: BrowserSessions.Current
        var transactionID: String
        var pending: PendingAuthorization
        var client: Client
    }

    enum WaitingLookup {
        case found(Waiting)
        case failed(OAuthError)
    }

    static let expiredInteraction = OAuthError.invalidRequest(
        "This sign-in request has expired or was already used. Return to the application and start again.")

    /// The request waiting under `transactionID`, if it is bound to this browser's session (a
    /// transaction id alone, leaked or guessed, is worth nothing in another browser).
    func waiting(_ transactionID: String?, cookie: String?) async throws -> WaitingLookup {
        guard let transactionID,
            let current = try await sessions.current(cookie: cookie),
            let pending = try await stores.interactions.pendingAuthorization(key: SecretHash.sha256Hex(transactionID)),
            ConstantTime.isEqual(pending.sessionKey, current.key),
            // The copy kept under an upstream `state` is never a waiting request of its own.
            pending.upstream == nil
        else { return .failed(Self.expiredInteraction) }
        guard let client = try await stores.clients.client(withID: pending.request.clientID) else {
            return .failed(.invalidRequest("The application is no longer registered."))
        }
        return .found(Waiting(session: current, transactionID: transactionID, pending: pending, client: client))
    }

    /// `GET /login`: the page for the waiting request, or an error page when there is none.
    public func loginPage(transactionID: String?, cookie: String?, problem: LoginProblem?) async throws -> InteractionResult {
        guard case .found(let waiting) = try await waiting(transactionID, cookie: cookie) else {
            return InteractionResult(.errorPage(Self.expiredInteraction))
        }
        let client = waiting.client
        var page = LoginPage(
            clientName: RedirectDisplay.name(of: client), transactionID: waiting.transactionID,
            csrfToken: waiting.session.session.csrfToken, problem: problem, isUnverified: RedirectDisplay.isUnverified(client),
            metadataHost: RedirectDisplay.metadataHost(of: client))
        page.providers = policy.upstreamProviders.map { LoginPage.ProviderButton(id: $0.id, name: $0.displayName) }
        page.showsPasswordForm = policy.allowsPasswordLogin
        return InteractionResult(.login(page))
    }

    /// `POST /login`: checks the password and, on success, starts a fresh session and moves the
    /// request on to consent or straight back to the client. `form` is `nil` when the body could
    /// not be read.
    public func login(_ form: LoginForm?, transactionID: String?, cookie: String?, caller: Caller) async throws -> InteractionResult {
        guard case .found(let waiting) = try await waiting(transactionID, cookie: cookie) else {
            return InteractionResult(.step(.login, transactionID: nil))
        }
        func back(_ problem: LoginProblem? = nil) -> InteractionResult {
            InteractionResult(.step(.login, transactionID: waiting.transactionID, problem: problem))
        }
        guard let form, FormOrigin.isGenuine(form.csrfToken, session: waiting.session.session) else {
            telemetry.signIn(.password, .expired)
            return back(.expired)
        }
        switch try await checkPassword(form, caller: caller) {
        case .failed(let problem): return back(problem)
        case .verified(let user): return try await signedIn(user, waiting: waiting, authTime: clock.now())
        }
    }

    /// What a password check found.
    enum PasswordCheck {
        /// The password is the user's.
        case verified(User)
        /// Why the user is not signed in.
        case failed(LoginProblem)
    }

    /// Checks a login form's password, for the login page and the account pages alike: within the
    /// failed-login limits, always through bcrypt (against a decoy for an unknown user), counted
    /// in the sign-in metrics. The caller has checked the form's CSRF token.
    func checkPassword(_ form: LoginForm, caller: Caller) async throws -> PasswordCheck {
        guard policy.allowsPasswordLogin else { return .failed(.passwordsOff) }
        let username = Username.canonical(form.username)
        let source = caller.source

        // The account counter is keyed on the resolved user (or the canonical name when there is
        // none), and the attempt is counted before bcrypt runs: parallel guesses cannot all pass.
        let user = try await stores.users.user(named: username)
        let account = user?.id ?? "unknown:" + username
        guard let reservation = try await limits.loginThrottle.reserve(account: account, source: source) else {
            caller.logger.notice("login throttled", metadata: ["source": "\(source)"])
            telemetry.signIn(.password, .throttled)
            return .failed(.throttled)
        }
        // Always run bcrypt, against a decoy when the user is unknown or signs in upstream (and
        // has no password): same time, same message.
        let hash = user.flatMap { $0.upstream == nil ? $0.passwordHash : nil } ?? decoyPasswordHash
        let passwords = self.passwords
        let password = form.password
        guard
            let verified = try await limits.passwordWork.run(
                key: account,
                {
                    try await passwords.verify(password, hash: hash)
                })
        else {
            try await limits.loginThrottle.cancel(reservation)
            caller.logger.notice("login refused: password checks busy", metadata: ["source": "\(source)"])
            telemetry.signIn(.password, .busy)
            return .failed(.busy)
        }
        guard let user, user.upstream == nil, verified else {
            caller.logger.notice("login failed", metadata: ["source": "\(source)"])
            telemetry.signIn(.password, .badPassword)
            return .failed(.invalid)
        }
        try await limits.loginThrottle.succeeded(reservation)
        telemetry.signIn(.password, .ok)
        return .verified(user)
    }

    /// The user has just proved who they are (password or upstream provider) at `authTime`:
    /// starts a fresh session and moves the waiting request on to consent or straight back to
    /// the client.
    func signedIn(_ user: User, waiting: Waiting, authTime: Date) async throws -> InteractionResult {
        func back() -> InteractionResult { InteractionResult(.step(.login, transactionID: waiting.transactionID)) }
        // A new session on login (no session fixation); the transaction moves with it.
        try await stores.interactions.deleteSession(key: waiting.session.key)
        let now = clock.now()
        let fresh = try await sessions.start(user: user, authTime: authTime)
        var pending = waiting.pending
        pending.sessionKey = fresh.key
        let transactionKey = SecretHash.sha256Hex(waiting.transactionID)

        let next: InteractionResult.Next
        if try await !ConsentRequirement.applies(
            to: pending.request, client: waiting.client, userID: user.id,
            consents: stores.consents)
        {
            guard try await stores.interactions.consumePendingAuthorization(key: transactionKey) != nil else {
                return back()
            }
            next = try await finish(pending, userID: user.id, authTime: authTime, approved: true)
        } else {
            let remaining = max(1, pending.expiresAt.timeIntervalSince(now))
            try await stores.interactions.savePendingAuthorization(pending, key: transactionKey, ttl: .seconds(remaining))
            next = .step(.consent, transactionID: waiting.transactionID)
        }
        return InteractionResult(next, cookie: sessions.cookie(fresh.cookieValue, for: fresh.session))
    }

    /// Issues a code for a waiting request that has just been consumed, or the user's refusal
    /// (RFC 6749 §4.1.2, §4.1.2.1 `access_denied`).
    func finish(_ pending: PendingAuthorization, userID: String, authTime: Date, approved: Bool) async throws -> InteractionResult.Next {
        let request = pending.request
        guard approved else {
            return .client(
                location: AuthorizationResponse.failure(
                    redirectURI: request.redirectURI, error: OAuthError(.accessDenied, "The user denied the request."),
                    state: request.state, issuer: policy.issuer))
        }
        let (_, location) = try await codeIssuer.issueCode(for: request, subject: userID, authTime: authTime)
        return .client(location: location)
    }
}
