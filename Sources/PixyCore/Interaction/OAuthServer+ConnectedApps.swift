public import Foundation
import Logging
import PixyModel

/// The connected-apps page: a signed-in user sees every application they approved and can revoke
/// one, which ends its refresh-token families, turns its access tokens inactive (as `/introspect`
/// sees them) and forgets the remembered consent (docs/threat-model.md, "Connected apps").
extension OAuthServer {
    /// What an account request leads to.
    public enum AccountResult: Sendable {
        /// The connected-apps page.
        case apps(ConnectedAppsPage, cookie: SessionCookieChange? = nil)
        /// Nobody is signed in: the sign-in form, posting to the account sign-in.
        case signIn(AccountSignInPage, cookie: SessionCookieChange? = nil)
        /// Back to the connected-apps page (after a POST: 303), with what just happened.
        case showApps(notice: AccountNotice?, cookie: SessionCookieChange? = nil)
        /// Back to the sign-in form (after a POST: 303), saying why.
        case retrySignIn(LoginProblem)
        /// A form not sent from this browser's own page: refused outright.
        case forgedForm(OAuthError)
        /// An error page (the per-source limit on new sessions).
        case errorPage(OAuthError)
    }

    /// What the page reports after a POST.
    public enum AccountNotice: String, Sendable, CaseIterable {
        /// An application was revoked.
        case revoked
        /// The application named was not (or no longer) connected.
        case notConnected = "not_connected"
    }

    /// `GET /account/apps`: the user's connected applications, or the sign-in form.
    public func connectedAppsPage(cookie: String?, notice: AccountNotice?, problem: LoginProblem?, caller: Caller) async throws
        -> AccountResult
    {
        let current = try await sessions.current(cookie: cookie)
        if let current, let user = try await SessionValidity.signedInUser(of: current.session, users: stores.users) {
            return .apps(try await connectedApps(of: user, csrfToken: current.session.csrfToken, notice: notice))
        }
        // The form needs a session for its CSRF token; an anonymous one lives briefly, and
        // creating one counts against the source's limit like `/authorize` does. With password
        // sign-in off there is no form, so no session either.
        if let current, current.session.userID == nil {
            return .signIn(accountSignIn(csrfToken: current.session.csrfToken, problem: problem))
        }
        guard policy.allowsPasswordLogin else { return .signIn(accountSignIn(csrfToken: "", problem: nil)) }
        if let refusal = try await authorizationLimitRefusal(caller, while: "account sign-in") {
            guard case .errorPage(let error, _) = refusal.next else { return .errorPage(Self.expiredInteraction) }
            return .errorPage(error)
        }
        let fresh = try await sessions.start(user: nil, authTime: nil)
        return .signIn(
            accountSignIn(csrfToken: fresh.session.csrfToken, problem: problem),
            cookie: sessions.cookie(fresh.cookieValue, for: fresh.session))
    }

    private func accountSignIn(csrfToken: String, problem: LoginProblem?) -> AccountSignInPage {
        AccountSignInPage(csrfToken: csrfToken, problem: problem, showsPasswordForm: policy.allowsPasswordLogin)
    }

    /// `POST /account/login`: the password form of the account pages. On success a fresh session
    /// (no fixation) and back to the connected-apps page; else the form again with the problem.
    public func accountSignIn(_ form: LoginForm?, cookie: String?, caller: Caller) async throws -> AccountResult {
        guard let current = try await sessions.current(cookie: cookie), let form,
            FormOrigin.isGenuine(form.csrfToken, session: current.session)
        else {
            telemetry.signIn(.password, .expired)
            return .forgedForm(.invalidRequest("This form was not sent from your sign-in page. Open the page again and retry."))
        }
        switch try await checkPassword(form, caller: caller) {
        case .failed(let problem):
            return .retrySignIn(problem)
        case .verified(let user):
            try await stores.interactions.deleteSession(key: current.key)
            let fresh = try await sessions.start(user: user, authTime: clock.now())
            return .showApps(notice: nil, cookie: sessions.cookie(fresh.cookieValue, for: fresh.session))
        }
    }

    /// `POST /account/apps/revoke`: revokes every grant the signed-in user gave `client_id` and
    /// forgets the consent remembered for it. Only the user's own grants are touched; a client the
    /// user never connected changes nothing and says so.
    public func revokeConnectedApp(_ form: RevokeAppForm?, cookie: String?, caller: Caller) async throws -> AccountResult {
        guard let current = try await sessions.current(cookie: cookie),
            let user = try await SessionValidity.signedInUser(of: current.session, users: stores.users)
        else { return .showApps(notice: nil) }
        guard let form, FormOrigin.isGenuine(form.csrfToken, session: current.session) else {
            caller.logger.notice("app revocation refused: missing or foreign CSRF token", metadata: ["source": "\(caller.source)"])
            return .forgedForm(.invalidRequest("This form was not sent from your connected-apps page. Open the page again and retry."))
        }
        guard let rawClientID = form.clientID else { return .showApps(notice: .notConnected) }
        let clientID = ClientID(rawClientID)
        // The consent goes first, for every resource: a request racing the revocation then meets
        // the consent page instead of a remembered approval.
        try await stores.consents.forgetConsents(userID: user.id, clientID: clientID)
        let live = try await stores.grants.grants(of: .user(id: user.id)).filter {
            $0.clientID == clientID && ConsentPolicy.isLive($0, now: clock.now())
        }
        for grant in live {
            // The clock is read per grant: each revocation marker must outlive the access tokens
            // a refresh could still have issued until that moment.
            let ended = try await GrantRevocation.revoke(
                grantID: grant.id, grants: stores.grants, tokenStatus: stores.tokenStatus, policy: policy, now: clock.now())
            if ended { telemetry.familyRevoked(.user) }
        }
        guard !live.isEmpty else { return .showApps(notice: .notConnected) }
        telemetry.increment(Telemetry.Name.appsRevokedByUser)
        caller.logger.info(
            "user revoked a connected app", metadata: ["client_id": "\(clientID)", "grants": "\(live.count)"])
        return .showApps(notice: .revoked)
    }

    /// The page model: the user's live grants, one row per client, newest use first.
    func connectedApps(of user: User, csrfToken: String, notice: AccountNotice?) async throws -> ConnectedAppsPage {
        let now = clock.now()
        let live = try await stores.grants.grants(of: .user(id: user.id)).filter { ConsentPolicy.isLive($0, now: now) }
        var rows: [ConnectedApp] = []
        for (clientID, grants) in Dictionary(grouping: live, by: \.clientID) {
            // For display only: a client that cannot be looked up now (a metadata document whose
            // host is down) is shown by its id, and the page, with its revoke buttons, still works.
            let client = (try? await stores.clients.client(withID: clientID)) ?? nil
            var scopes: [String] = []
            for grant in grants { scopes += grant.scope.tokens }
            rows.append(
                ConnectedApp(
                    clientID: clientID.rawValue, name: client.map(RedirectDisplay.name(of:)) ?? clientID.rawValue,
                    redirectHosts: Array(Set(client?.redirectURIs.map(RedirectDisplay.host(of:)) ?? [])).sorted(),
                    scopes: Scope(validatedTokens: scopes).tokens, resources: Set(grants.compactMap(\.resource)).sorted(),
                    approvedAt: grants.map(\.createdAt).min()!, lastUsedAt: grants.map { $0.lastUsedAt ?? $0.createdAt }.max()!,
                    isUnverified: client.map(RedirectDisplay.isUnverified) ?? true,
                    metadataHost: ClientIDMetadataDocument.isDocumentURL(clientID.rawValue)
                        ? ClientIDMetadataDocument.host(of: clientID.rawValue) : nil))
        }
        rows.sort { ($0.lastUsedAt, $0.clientID) > ($1.lastUsedAt, $1.clientID) }
        return ConnectedAppsPage(username: user.username, csrfToken: csrfToken, apps: rows, notice: notice)
    }
}

/// The revoke button's form.
public struct RevokeAppForm: Sendable {
    /// `csrf_token`, when sent once.
    public var csrfToken: String?
    /// `client_id`: the application to revoke.
    public var clientID: String?

    /// Bundles the fields.
    public init(csrfToken: String?, clientID: String?) {
        self.csrfToken = csrfToken
        self.clientID = clientID
    }

    /// Reads the fields; a field sent twice counts as missing.
    public init(form: FormParameters) {
        self.init(csrfToken: (try? form.single("csrf_token")) ?? nil, clientID: (try? form.single("client_id")) ?? nil)
    }
}

/// What the connected-apps page shows.
public struct ConnectedAppsPage: Sendable, Equatable {
    /// Who is signed in.
    public var username: String
    /// The session's CSRF token, for the revoke forms.
    public var csrfToken: String
    /// The applications, most recently used first.
    public var apps: [ConnectedApp]
    /// What the last POST did.
    public var notice: OAuthServer.AccountNotice?
}

/// One connected application: what the user approved for it, and when.
public struct ConnectedApp: Sendable, Equatable {
    /// Its `client_id`, posted by the revoke button.
    public var clientID: String
    /// Its name as the pages show it.
    public var name: String
    /// Where it sends the user back (``RedirectDisplay/host(of:)``).
    public var redirectHosts: [String]
    /// Every scope approved, across its grants.
    public var scopes: [String]
    /// The RFC 8707 resources its tokens are for.
    public var resources: [String]
    /// When the user first approved it (the oldest live grant).
    public var approvedAt: Date
    /// When it last refreshed a token (or was approved, if never since).
    public var lastUsedAt: Date
    /// Whether it registered itself and nobody vouched for its name (also when it cannot be
    /// looked up right now).
    public var isUnverified: Bool
    /// For a Client ID Metadata Document client, the host that published the document (its name
    /// is the document's own claim).
    public var metadataHost: String?
}

/// What the account sign-in page shows.
public struct AccountSignInPage: Sendable, Equatable {
    /// The session's CSRF token, for the form.
    public var csrfToken: String
    /// Why the page is shown again.
    public var problem: LoginProblem?
    /// Whether password sign-in is on (when it is off, the page says to sign in through an app).
    public var showsPasswordForm: Bool
}
