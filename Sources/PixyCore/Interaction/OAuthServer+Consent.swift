import Logging
import PixyModel

/// The consent page: the user approves or denies what the client asks for.
extension OAuthServer {
    /// `GET /consent`: the page, the login page when nobody is signed in, or an error page.
    public func consentPage(transactionID: String?, cookie: String?) async throws -> InteractionResult {
        guard case .found(let waiting) = try await waiting(transactionID, cookie: cookie) else {
            return InteractionResult(.errorPage(Self.expiredInteraction))
        }
        guard let user = try await SessionValidity.signedInUser(of: waiting.session.session, users: stores.users) else {
            return InteractionResult(.step(.login, transactionID: waiting.transactionID))
        }
        let authorization = waiting.pending.request
        let client = waiting.client
        // Step-up: mark what this request adds to what the user already approved for this client
        // and resource, remembered or held as a live grant (public clients too; RFC 8252 §8.6).
        let record =
            ConsentPolicy.remembers(client)
            ? try await stores.consents.consent(userID: user.id, clientID: client.clientID, resource: authorization.resource)
            : nil
        let grants = try await stores.grants.grants(of: .user(id: user.id))
        let newScopes = ConsentPolicy.newTokens(in: authorization, for: client, remembered: record, grants: grants, now: clock.now())
        return InteractionResult(
            .consent(
                ConsentPage(
                    clientName: RedirectDisplay.name(of: client), clientID: client.clientID.rawValue, username: shownName(of: user),
                    redirectHost: RedirectDisplay.host(of: authorization.redirectURI),
                    scopes: authorization.scope.tokens.map { ConsentPage.ScopeLine(name: $0, isNew: newScopes.contains($0)) },
                    resource: authorization.resource, isUnverified: RedirectDisplay.isUnverified(client),
                    metadataHost: RedirectDisplay.metadataHost(of: client), transactionID: waiting.transactionID,
                    csrfToken: waiting.session.session.csrfToken)))
    }

    /// How the pages name a signed-in user: the username, or the upstream account and the
    /// provider it is at.
    func shownName(of user: User) -> String {
        guard let identity = user.upstream else { return user.username }
        let provider = policy.upstreamProviders.first { $0.id == identity.provider }?.displayName ?? identity.provider
        return "\(identity.shownName) (\(provider))"
    }

    /// `POST /consent`: consumes the waiting request once and sends the browser back to the
    /// client with a code or `access_denied`. `form` is `nil` when the body could not be read.
    public func consent(_ form: ConsentForm?, transactionID: String?, cookie: String?, caller: Caller) async throws -> InteractionResult {
        guard case .found(let waiting) = try await waiting(transactionID, cookie: cookie) else {
            return InteractionResult(.step(.consent, transactionID: nil))
        }
        let back = InteractionResult(.step(.consent, transactionID: waiting.transactionID))
        guard let user = try await SessionValidity.signedInUser(of: waiting.session.session, users: stores.users) else {
            return InteractionResult(.step(.login, transactionID: waiting.transactionID))
        }
        // A POST without this browser's CSRF token is forged, not merely stale: refuse it outright.
        guard let form, FormOrigin.isGenuine(form.csrfToken, session: waiting.session.session) else {
            caller.logger.notice("consent refused: missing or foreign CSRF token", metadata: ["source": "\(caller.source)"])
            return InteractionResult(
                .forgedForm(
                    .invalidRequest(
                        "This form was not sent from your sign-in page. Return to the application and start again.")))
        }
        guard let decision = form.decision, decision == "approve" || decision == "deny" else { return back }

        // Consume the transaction atomically: an approval can be used once (docs/security.md §8).
        guard let pending = try await stores.interactions.consumePendingAuthorization(key: SecretHash.sha256Hex(waiting.transactionID)),
            ConstantTime.isEqual(pending.sessionKey, waiting.session.key)
        else { return back }
        let client = waiting.client
        telemetry.consent(approved: decision == "approve")
        if decision == "approve", ConsentPolicy.remembers(client) {
            let consents = stores.consents
            let previous = try await consents.consent(userID: user.id, clientID: client.clientID, resource: pending.request.resource)
            try await consents.saveConsent(
                ConsentPolicy.remembering(pending.request, after: previous, now: clock.now()),
                userID: user.id, clientID: client.clientID, resource: pending.request.resource)
        }
        return InteractionResult(
            try await finish(
                pending, userID: user.id, authTime: waiting.session.session.authTime ?? clock.now(),
                approved: decision == "approve"))
    }
}
