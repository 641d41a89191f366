public import Foundation
import Logging
import PixyModel

/// Signing in through an upstream identity provider (docs/federation.md). Pixy is the provider's
/// client (authorization code, PKCE S256, `state`, `nonce`) and stays the authorization server
/// of its own clients: they receive only Pixy's tokens, and the consent page rules are unchanged.
extension OAuthServer {
    /// The key of the copy of a waiting request kept while the user is at a provider: the hash
    /// of the `state` sent there, in its own domain so that a `state` presented as a transaction
    /// id (or the reverse) finds nothing.
    static func upstreamStateKey(_ state: String) -> String { SecretHash.sha256Hex("upstream-state:" + state) }

    static let unknownUpstreamResponse = OAuthError.invalidRequest(
        "This sign-in response does not belong to a sign-in started in this browser, or was already used. Return to the application and start again."
    )

    /// `POST /login/upstream`: sends the browser to the chosen provider's authorization endpoint
    /// with a fresh `state`, `nonce` and PKCE verifier, kept server-side and bound to this
    /// browser's session. `form` is `nil` when the body could not be read.
    public func startUpstreamSignIn(_ form: UpstreamSignInForm?, transactionID: String?, cookie: String?, caller: Caller) async throws
        -> InteractionResult
    {
        guard case .found(let waiting) = try await waiting(transactionID, cookie: cookie) else {
            return InteractionResult(.step(.login, transactionID: nil))
        }
        func back(_ problem: LoginProblem) -> InteractionResult {
            InteractionResult(.step(.login, transactionID: waiting.transactionID, problem: problem))
        }
        guard let form, FormOrigin.isGenuine(form.csrfToken, session: waiting.session.session) else { return back(.expired) }
        guard let upstream, let provider = policy.upstreamProviders.first(where: { $0.id == form.provider }) else {
            return back(.upstreamFailed)
        }
        // Each attempt stores a copy of the request: bounded like `/authorize` itself.
        if let refusal = try await authorizationLimitRefusal(caller, while: "upstream sign-in") { return refusal }
        let endpoints: UpstreamEndpoints
        do {
            endpoints = try await upstream.endpoints(of: provider)
        } catch {
            caller.logger.warning("upstream provider unavailable", metadata: ["provider": "\(provider.id)", "error": "\(error)"])
            return back(.upstreamUnavailable)
        }
        let state = SecureRandom.token()
        let nonce = SecureRandom.token()
        let pkce = PKCEPair.generate()
        var copy = waiting.pending
        copy.upstream = UpstreamSignInAttempt(
            provider: provider.id, transactionID: waiting.transactionID, codeVerifier: pkce.verifier.value, nonce: nonce,
            startedAt: clock.now())
        let remaining = max(1, copy.expiresAt.timeIntervalSince(clock.now()))
        try await stores.interactions.savePendingAuthorization(copy, key: Self.upstreamStateKey(state), ttl: .seconds(remaining))

        var query = [
            ("response_type", "code"), ("client_id", provider.clientID), ("redirect_uri", provider.redirectURI(issuer: policy.issuer)),
            ("scope", provider.scopes.joined(separator: " ")), ("state", state), ("code_challenge", pkce.challenge.value),
            ("code_challenge_method", CodeChallengeMethod.s256.rawValue),
        ]
        if provider.isOpenIDConnect {
            query.append(("nonce", nonce))
            // The client asked for a fresh sign-in: ask the provider for one, and check it happened.
            if waiting.pending.request.prompt.contains(.login) { query += [("prompt", "login"), ("max_age", "0")] }
        }
        let separator = endpoints.authorizationEndpoint.contains("?") ? "&" : "?"
        return InteractionResult(.upstream(location: endpoints.authorizationEndpoint + separator + FormParameters.encode(query)))
    }

    /// `GET /upstream/<provider>/callback`: the provider's authorization response (RFC 6749
    /// §4.1.2). Checked in this order: the `state` is one this browser's session started and is
    /// used once; the response came to the callback of the provider the browser was sent to
    /// (mix-up); `iss` names that provider (RFC 9207 §2.4); then the code is exchanged, the ID
    /// token or userinfo read, the operator's rule applied, and the user signed in.
    public func finishUpstreamSignIn(provider providerID: String, query: FormParameters?, cookie: String?, caller: Caller) async throws
        -> InteractionResult
    {
        let refused = InteractionResult(.errorPage(Self.unknownUpstreamResponse))
        func parameter(_ name: String) -> String?? {
            guard let query else { return .none }
            do { return .some(try query.single(name)) } catch { return .none }
        }
        // A parameter sent twice is as good as a forged one.
        guard let stateParameter = parameter("state"), let state = stateParameter, let issParameter = parameter("iss"),
            let codeParameter = parameter("code"), let errorParameter = parameter("error")
        else { return refused }

        let stateKey = Self.upstreamStateKey(state)
        guard let current = try await sessions.current(cookie: cookie),
            let copy = try await stores.interactions.pendingAuthorization(key: stateKey),
            ConstantTime.isEqual(copy.sessionKey, current.key), let attempt = copy.upstream
        else {
            caller.logger.notice("upstream response refused: unknown state, or started in another browser")
            return refused
        }
        guard attempt.provider == providerID, let provider = policy.upstreamProviders.first(where: { $0.id == providerID }),
            let upstream
        else {
            caller.logger.warning(
                "upstream response refused: it came to another provider's callback (mix-up)",
                metadata: ["expected": "\(attempt.provider)", "callback": "\(providerID)"])
            _ = try await stores.interactions.consumePendingAuthorization(key: stateKey)
            return refused
        }
        // Used once, whatever happens next.
        guard try await stores.interactions.consumePendingAuthorization(key: stateKey) != nil else { return refused }
        func back(_ problem: LoginProblem) -> InteractionResult {
            InteractionResult(.step(.login, transactionID: attempt.transactionID, problem: problem))
        }
        let log: Logger.Metadata = ["provider": "\(provider.id)"]

        let endpoints: UpstreamEndpoints
        do {
            endpoints = try await upstream.endpoints(of: provider)
        } catch {
            caller.logger.warning("upstream provider unavailable", metadata: log.merging(["error": "\(error)"]) { $1 })
            telemetry.signIn(.upstream, .upstreamError)
            return back(.upstreamUnavailable)
        }
        if let iss = issParameter {
            guard let issuer = endpoints.issuer, iss == issuer else {
                caller.logger.warning("upstream response refused: iss names another issuer (mix-up)", metadata: log)
                telemetry.signIn(.upstream, .upstreamError)
                return refused
            }
        } else if endpoints.sendsIssuerParameter {
            caller.logger.warning("upstream response refused: iss missing though the provider sends it", metadata: log)
            telemetry.signIn(.upstream, .upstreamError)
            return refused
        }

        if let error = errorParameter {
            // Anyone can send an `error` with a state of their own: log it only in the shape
            // RFC 6749 §4.1.2.1 gives error codes, never as sent.
            let shown = error.utf8.count <= 64 && error.allSatisfy { $0.isASCII && $0.isLetter || $0 == "_" } ? error : "(malformed)"
            caller.logger.notice("upstream provider answered an error", metadata: log.merging(["error": "\(shown)"]) { $1 })
            telemetry.signIn(.upstream, error == OAuthError.Code.accessDenied.rawValue ? .upstreamDenied : .upstreamError)
            // The user declined at the provider: tell the application, as if declined here.
            if error == OAuthError.Code.accessDenied.rawValue,
                case .found(let waiting) = try await waiting(attempt.transactionID, cookie: cookie),
                let pending = try await stores.interactions.consumePendingAuthorization(key: SecretHash.sha256Hex(waiting.transactionID))
            {
                return InteractionResult(try await finish(pending, userID: "", authTime: clock.now(), approved: false))
            }
            return back(.upstreamFailed)
        }
        guard let code = codeParameter, !code.isEmpty else {
            telemetry.signIn(.upstream, .upstreamError)
            return refused
        }

        let identity: UpstreamIdentity
        let claims: Claims
        var authTime = clock.now()
        do {
            let tokens = try await upstream.exchange(
                code: code, verifier: attempt.codeVerifier, redirectURI: provider.redirectURI(issuer: policy.issuer), provider: provider,
                endpoints: endpoints)
            if provider.isOpenIDConnect {
                guard let idToken = tokens.idToken, let issuer = endpoints.issuer else {
                    throw UpstreamFailure(.invalidResponse, "the token response has no id_token")
                }
                claims = try await upstream.verifiedClaims(ofIDToken: idToken, provider: provider, endpoints: endpoints)
                identity = try IDTokenValidation.identity(
                    from: claims, provider: provider, issuer: issuer, nonce: attempt.nonce, now: clock.now(),
                    signedInSince: copy.request.prompt.contains(.login) ? attempt.startedAt : nil)
                authTime = IDTokenValidation.authenticationTime(from: claims, now: clock.now())
            } else {
                claims = try await upstream.userinfo(accessToken: tokens.accessToken, provider: provider, endpoints: endpoints)
                identity = try IDTokenValidation.identity(fromUserinfo: claims, provider: provider)
            }
        } catch let failure as UpstreamFailure {
            caller.logger.warning("upstream sign-in failed", metadata: log.merging(["failure": "\(failure)"]) { $1 })
            telemetry.signIn(.upstream, .upstreamError)
            switch failure.code {
            case .unreachable: return back(.upstreamUnavailable)
            case .rejected: return back(.upstreamFailed)
            case .invalidResponse, .invalidIDToken:
                return InteractionResult(
                    .errorPage(
                        OAuthError(
                            .accessDenied, "The identity provider's answer could not be verified, so nobody was signed in.",
                            condition: .refused)))
            }
        }

        guard provider.access.admits(identity, claims: claims), let user = try await user(for: identity, provider: provider) else {
            caller.logger.notice("upstream account not allowed to sign in", metadata: log)
            telemetry.signIn(.upstream, .upstreamRefused)
            return back(.notAllowed)
        }
        guard case .found(let waiting) = try await waiting(attempt.transactionID, cookie: cookie) else {
            return InteractionResult(.errorPage(Self.expiredInteraction))
        }
        caller.logger.info("signed in through upstream provider", metadata: log)
        telemetry.signIn(.upstream, .ok)
        return try await signedIn(user, waiting: waiting, authTime: authTime)
    }

    /// The Pixy user of an upstream identity, matched by (provider, subject) only; created on a
    /// first sign-in when the provider's rule allows, else `nil`.
    func user(for identity: UpstreamIdentity, provider: UpstreamProvider) async throws -> User? {
        let name = UpstreamIdentity.username(provider: identity.provider, subject: identity.subject)
        func matches(_ user: User) -> Bool { user.upstream?.isSameAccount(as: identity) ?? false }
        if var user = try await stores.users.user(named: name) {
            guard matches(user) else { return nil }
            if user.upstream != identity {
                user.upstream = identity
                try await stores.users.save(user)
            }
            return user
        }
        guard provider.access.createsUsers else { return nil }
        var user = User(id: SecureRandom.token(byteCount: 16), username: name, passwordHash: "", createdAt: clock.now())
        user.upstream = identity
        do {
            try await stores.users.save(user)
        } catch let error as StorageError where error.code == .duplicateUsername {
            // Two first sign-ins raced: the other created the user.
            guard let existing = try await stores.users.user(named: name), matches(existing) else { return nil }
            return existing
        }
        return user
    }
}

/// The form of a provider's button on the login page.
public struct UpstreamSignInForm: Sendable {
    /// `csrf_token`, when sent once.
    public var csrfToken: String?
    /// `provider`: the provider's id.
    public var provider: String?

    /// Bundles the fields.
    public init(csrfToken: String?, provider: String?) {
        self.csrfToken = csrfToken
        self.provider = provider
    }

    /// Reads the fields; a field sent twice counts as missing.
    public init(form: FormParameters) {
        self.init(csrfToken: (try? form.single("csrf_token")) ?? nil, provider: (try? form.single("provider")) ?? nil)
    }
}
