public import PixyModel
public import Foundation

/// A successful token response (RFC 6749 §5.1).
public struct TokenResponse: Sendable, Codable, Equatable {
    /// The access token.
    public var accessToken: String
    /// Always `Bearer`.
    public var tokenType: String
    /// Lifetime in seconds.
    public var expiresIn: Int
    /// The granted scope (RFC 6749 §5.1: required when it differs from the request; always sent).
    public var scope: String?
    /// A refresh token (RFC 6749 §5.1), when the client may refresh.
    public var refreshToken: String?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case scope
        case refreshToken = "refresh_token"
    }

    /// Creates a response.
    public init(accessToken: String, tokenType: String = "Bearer", expiresIn: Int, scope: String?, refreshToken: String? = nil) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.scope = scope
        self.refreshToken = refreshToken
    }
}

/// `POST /token`: authenticates the client, then runs the grant (docs/security.md §4).
public struct TokenEndpoint: Sendable {
    private let authenticator: ClientAuthenticator
    private let clients: any ClientStore
    private let codes: any AuthorizationCodeStore
    private let tokens: any AccessTokenIssuing
    private let tokenStatus: any TokenStatusStore
    private let grants: any GrantStore
    private let users: any UserStore
    private let policy: ServerPolicy
    private let clock: any WallClock
    private let telemetry: Telemetry

    /// Creates the endpoint logic; `telemetry` counts replays, reuse and the families they end.
    public init(
        clients: any ClientStore, codes: any AuthorizationCodeStore, tokens: any AccessTokenIssuing,
        tokenStatus: any TokenStatusStore, grants: any GrantStore, users: any UserStore, policy: ServerPolicy,
        clock: any WallClock, telemetry: Telemetry = .disabled
    ) {
        self.telemetry = telemetry
        self.authenticator = ClientAuthenticator(clients: clients)
        self.users = users
        self.clients = clients
        self.codes = codes
        self.tokens = tokens
        self.tokenStatus = tokenStatus
        self.grants = grants
        self.policy = policy
        self.clock = clock
    }

    /// Handles a token request: authenticates the client, then runs the grant it names.
    public func handle(_ request: ClientAuthenticated<TokenRequest>) async throws(OAuthError) -> TokenResponse {
        let client = try await authenticator.authenticate(request.credentials)
        let parameters = request.body

        guard let grantType = parameters.grantType else {
            throw .invalidRequest("The grant_type parameter is missing.")
        }
        guard let grant = GrantType(rawValue: grantType) else {
            throw OAuthError(.unsupportedGrantType, "The grant_type is not supported.")
        }
        guard client.grantTypes.contains(grant) else {
            throw OAuthError(.unauthorizedClient, "This client may not use this grant type.")
        }
        do {
            let response: TokenResponse
            switch grant {
            case .authorizationCode: response = try await redeemCode(parameters, client: client)
            case .refreshToken: response = try await refresh(parameters, client: client)
            }
            await noteUse(of: client)
            return response
        } catch let error as OAuthError {
            throw error
        } catch {
            throw .storageFailure(error, while: "token request")
        }
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5–4.6, in this order:
    /// 1. request shape (code present, verifier well-formed) — `invalid_request`, nothing consumed;
    /// 2. consume the code atomically; from here on it is gone whatever happens (docs/security.md §3);
    /// 3. expiry, client, redirect URI, issuer, verifier, resource — each `invalid_grant`
    ///    (or `invalid_target`);
    /// 4. leave a "used" marker, so that a later replay by the legitimate client (right client,
    ///    right verifier) revokes the tokens this code produced (RFC 6749 §4.1.2; docs/security.md §3).
    /// Steps 2–4 are one store operation (``AuthorizationCodeStore/consumeCode(codeHash:markingUsedFor:after:)``):
    /// the checks of step 3 are pure and run inside it, so stores that can write the marker in the
    /// same atomic step as the consumption do.
    func redeemCode(_ parameters: TokenRequest, client: Client) async throws -> TokenResponse {
        guard let code = parameters.code else {
            throw OAuthError.invalidRequest("The code parameter is missing.")
        }
        let verifier = try PKCEPolicy.verifier(parameters.codeVerifier)

        let codeHash = SecretHash.sha256Hex(code)
        let redemption = try await codes.consumeCode(codeHash: codeHash, markingUsedFor: policy.accessTokenLifetime) {
            [policy, clock] record in
            try Self.check(record, redeemedWith: parameters, verifier: verifier, by: client, policy: policy, now: clock.now())
        }
        guard let (record, claims) = redemption else {
            try await handleReplay(codeHash: codeHash, client: client, verifier: verifier)
            throw OAuthError.invalidGrant("The authorization code is invalid, expired or already used.", detail: "no such code")
        }
        let now = claims.issuedAt
        let grantID = claims.grantID
        guard try await users.user(withID: record.subject) != nil else {
            throw OAuthError.invalidGrant("The authorization code is invalid, expired or already used.", detail: "user no longer exists")
        }
        var refreshToken: String?
        if let grantID {
            let token = SecureRandom.token()
            let grant = Grant(
                id: grantID, clientID: client.clientID, subject: record.subject, scope: record.scope,
                resource: record.resource, authTime: record.authTime, createdAt: now,
                expiresAt: now.addingTimeInterval(policy.refreshTokenLifetime.timeInterval),
                idleExpiresAt: now.addingTimeInterval(policy.refreshTokenIdleLifetime.timeInterval),
                currentTokenHash: SecretHash.sha256Hex(token))
            try await grants.createGrant(grant)
            // A replay revokes the family's marker first, then the grant if it exists
            // (GrantRevocation.revoke). Looking for the marker after the creation, and only then,
            // closes the race: either the replay's update found this grant, or this look finds the
            // marker. The refresh token is not out yet, so the grant is unusable until then.
            if try await tokenStatus.isTokenRevoked(id: GrantRevocation.tokenStatusID(ofGrant: grantID)) {
                try await revokeGrant(id: grantID, now: now)
            }
            refreshToken = token
        }
        let accessToken = try await tokens.issueAccessToken(claims)
        return response(accessToken: accessToken, scope: record.scope, refreshToken: refreshToken)
    }

    /// Step 3 of ``redeemCode(_:client:)`` on a consumed code, and what step 4 needs: the marker,
    /// naming the token and grant ids about to be issued (so a replay racing this redemption finds
    /// it and revokes them: revoking an id works before the token exists, and a grant revoked
    /// before it was created is revoked on creation), and the claims of the access token.
    static func check(
        _ record: AuthorizationCodeRecord, redeemedWith parameters: TokenRequest, verifier: CodeVerifier, by client: Client,
        policy: ServerPolicy, now: Date
    ) throws(OAuthError) -> (marker: UsedCodeMarker, redemption: (AuthorizationCodeRecord, AccessTokenClaims)) {
        guard record.expiresAt > now else {
            throw OAuthError.invalidGrant("The authorization code is invalid, expired or already used.", detail: "code expired")
        }
        guard record.clientID == client.clientID else {
            throw OAuthError.invalidGrant("The authorization code was issued to another client.", detail: "client mismatch")
        }
        if let redirectURI = parameters.redirectURI {
            // docs/security.md §4: when sent, it must equal the one used at /authorize, byte for byte.
            guard redirectURI.utf8.elementsEqual(record.redirectURI.utf8) else {
                throw OAuthError.invalidGrant("The redirect_uri does not match the authorization request.")
            }
        }
        guard record.issuer == policy.issuer else {
            throw OAuthError.invalidGrant("The authorization code was issued by another issuer.", detail: "issuer mismatch")
        }
        try PKCEPolicy.verify(verifier, against: record.codeChallenge)
        if let requestedResource = parameters.resource {
            // RFC 8707 §2.2: the token request may only name a resource the grant covers.
            guard requestedResource == record.resource else {
                throw OAuthError.invalidTarget("The resource is not covered by this authorization.")
            }
        }
        let grantID = policy.issuesRefreshToken(to: client, scope: record.scope) ? SecureRandom.token(byteCount: 16) : nil
        let claims = accessTokenClaims(
            subject: record.subject, resource: record.resource, clientID: client.clientID, scope: record.scope,
            authTime: record.authTime, now: now, grantID: grantID, policy: policy)
        let marker = UsedCodeMarker(
            clientID: client.clientID, codeChallenge: record.codeChallenge, tokenIDs: [claims.tokenID],
            tokensExpireAt: claims.expiresAt, grantID: grantID)
        return (marker, (record, claims))
    }

    /// RFC 9068 claims: `aud` is the granted resource, or the issuer when none was named.
    func accessTokenClaims(
        subject: String, resource: String?, clientID: ClientID, scope: Scope, authTime: Date, now: Date,
        grantID: String?
    ) -> AccessTokenClaims {
        Self.accessTokenClaims(
            subject: subject, resource: resource, clientID: clientID, scope: scope, authTime: authTime, now: now,
            grantID: grantID, policy: policy)
    }

    /// The claims, for a given policy.
    static func accessTokenClaims(
        subject: String, resource: String?, clientID: ClientID, scope: Scope, authTime: Date, now: Date,
        grantID: String?, policy: ServerPolicy
    ) -> AccessTokenClaims {
        AccessTokenClaims(
            issuer: policy.issuer, subject: subject, audience: resource ?? policy.issuer, clientID: clientID, scope: scope,
            issuedAt: now, expiresAt: now.addingTimeInterval(policy.accessTokenLifetime.timeInterval),
            tokenID: SecureRandom.token(byteCount: 16), authTime: authTime, grantID: grantID)
    }

    func response(accessToken: String, scope: Scope, refreshToken: String?) -> TokenResponse {
        TokenResponse(
            accessToken: accessToken, expiresIn: Int(policy.accessTokenLifetime.timeInterval),
            scope: scope.isEmpty ? nil : scope.description, refreshToken: refreshToken)
    }

    /// RFC 6749 §6 with the family rules of docs/security.md §5, decided in one atomic store update.
    func refresh(_ parameters: TokenRequest, client: Client) async throws -> TokenResponse {
        guard let presented = parameters.refreshToken else {
            throw OAuthError.invalidRequest("The refresh_token parameter is missing.")
        }
        var requestedScope: Scope?
        if let value = parameters.scope {
            guard let scope = Scope(parsing: value) else { throw OAuthError.invalidScope("The scope parameter is malformed.") }
            requestedScope = scope
        }
        let requestedResource = parameters.resource
        let now = clock.now()
        let presentation = RefreshTokenFamily.Presentation(
            token: presented, scope: requestedScope, resource: requestedResource, replacement: SecureRandom.token(),
            rotates: client.isPublic || policy.rotatesConfidentialRefreshTokens)
        let idle = policy.refreshTokenIdleLifetime
        let retryWindow = policy.refreshTokenRetryWindow
        let clientID = client.clientID
        let result = try await grants.updateGrant(refreshTokenHash: SecretHash.sha256Hex(presented)) {
            grant -> GrantUpdate<(RefreshTokenFamily.Outcome, Grant)> in
            // A refresh token is bound to its client; another client's attempt changes nothing.
            guard grant.clientID == clientID else { return .keep((.dead, grant)) }
            switch RefreshTokenFamily.present(presentation, to: &grant, now: now, idleLifetime: idle, retryWindow: retryWindow) {
            case .keep(let outcome): return .keep((outcome, grant))
            case .save(let outcome, let hash): return .save((outcome, grant), newTokenHash: hash)
            }
        }
        let invalid = OAuthError.invalidGrant("The refresh token is invalid, expired or revoked.")
        guard let (outcome, grant) = result else { throw invalid }
        let refreshToken: String?
        switch outcome {
        case .rotated(let token), .repeated(let token): refreshToken = token
        case .accepted: refreshToken = nil
        case .reuseDetected:
            telemetry.increment(Telemetry.Name.refreshReuse)
            telemetry.familyRevoked(.reuse)
            try await GrantRevocation.revokeAccessTokens(ofGrant: grant.id, tokenStatus: tokenStatus, policy: policy, now: now)
            throw OAuthError.invalidGrant(
                "The refresh token is invalid, expired or revoked.",
                detail: "refresh token reuse: family \(grant.id) revoked")
        case .dead: throw invalid
        case .invalidScope: throw OAuthError.invalidScope("The requested scope exceeds the grant.")
        case .invalidTarget: throw OAuthError.invalidTarget("The resource is not covered by this grant.")
        }
        // Offboarding: a removed user's families stop at once, even if their revocation failed.
        guard try await users.user(withID: grant.subject) != nil else {
            if try await revokeGrant(id: grant.id, now: now) { telemetry.familyRevoked(.userRemoved) }
            throw OAuthError.invalidGrant("The refresh token is invalid, expired or revoked.", detail: "user no longer exists")
        }
        let scope = requestedScope ?? grant.scope
        let claims = accessTokenClaims(
            subject: grant.subject, resource: grant.resource, clientID: client.clientID, scope: scope,
            authTime: grant.authTime, now: now, grantID: grant.id)
        return response(accessToken: try await tokens.issueAccessToken(claims), scope: scope, refreshToken: refreshToken)
    }

    /// A code that is gone may have been redeemed before. If it was, and this request carries the
    /// same client and a verifier for the code's challenge, the code has leaked or been replayed:
    /// revoke what it produced. Anyone else learns nothing and revokes nothing.
    func handleReplay(codeHash: String, client: Client, verifier: CodeVerifier) async throws {
        guard let marker = try await codes.usedCodeMarker(codeHash: codeHash),
            marker.clientID == client.clientID, marker.codeChallenge.isSatisfied(by: verifier)
        else { return }
        telemetry.increment(Telemetry.Name.codeReplays)
        for tokenID in marker.tokenIDs {
            try await tokenStatus.revokeToken(id: tokenID, expiresAt: marker.tokensExpireAt)
        }
        if let grantID = marker.grantID, try await revokeGrant(id: grantID, now: clock.now()) {
            telemetry.familyRevoked(.codeReplay)
        }
        throw OAuthError.invalidGrant(
            "The authorization code is invalid, expired or already used.",
            detail: "code replayed by its client; \(marker.tokenIDs.count) token(s) revoked")
    }

    /// Records when a dynamically registered client was last used, at most once a day (a write per
    /// token would cost more than pruning is worth). Best effort: a failure here loses only a date.
    /// Written only if the client is still registered, so pruning meanwhile is never undone.
    func noteUse(of client: Client) async {
        guard client.isDynamicallyRegistered, !client.isMetadataDocument else { return }
        let now = clock.now()
        guard (client.lastUsedAt ?? client.createdAt).addingTimeInterval(86400) < now else { return }
        var updated = client
        updated.lastUsedAt = now
        _ = try? await clients.replaceIfPresent(updated)
    }

    /// Revokes a refresh-token family and every access token it issued that is still alive;
    /// `true` if this call ended the family.
    @discardableResult
    func revokeGrant(id: String, now: Date) async throws -> Bool {
        try await GrantRevocation.revoke(grantID: id, grants: grants, tokenStatus: tokenStatus, policy: policy, now: now)
    }
}

/// Revoking a whole family: used by code replay, refresh-token revocation, reuse detection, and
/// when a user, a client or a grant is removed.
///
/// Access tokens carry their grant's id (`grant_id`), so one marker, `auth:revoked:grant:<id>`,
/// kept as long as the longest access token lives, revokes them all: the grant does not list its
/// tokens, and a refresh costs the same on the 10,000th use as on the first.
public enum GrantRevocation {
    /// The revocation-status id that stands for every access token of `grantID`. A `jti` is
    /// base64url and never contains `:`, so it cannot collide with one.
    public static func tokenStatusID(ofGrant grantID: String) -> String { "grant:" + grantID }

    /// Marks the grant's access tokens revoked, then the grant itself. The marker comes first: a
    /// redemption creating this grant at the same moment checks the marker after creating it, so
    /// either it sees the marker or this update sees the grant (``TokenEndpoint``). Returns
    /// `true` if this call ended the family, `false` if it was revoked already or is unknown.
    @discardableResult
    public static func revoke(
        grantID: String, grants: any GrantStore, tokenStatus: any TokenStatusStore, policy: ServerPolicy,
        now: Date
    ) async throws -> Bool {
        try await revokeAccessTokens(ofGrant: grantID, tokenStatus: tokenStatus, policy: policy, now: now)
        let ended = try await grants.updateGrant(id: grantID) { grant -> GrantUpdate<Bool> in
            guard grant.revokedAt == nil else { return .keep(false) }
            grant.revoke(at: now)
            return .save(true, newTokenHash: nil)
        }
        return ended ?? false
    }

    /// Revokes every access token issued from `grantID` that may still be alive.
    public static func revokeAccessTokens(
        ofGrant grantID: String, tokenStatus: any TokenStatusStore, policy: ServerPolicy,
        now: Date
    ) async throws {
        try await tokenStatus.revokeToken(
            id: tokenStatusID(ofGrant: grantID),
            expiresAt: now.addingTimeInterval(policy.accessTokenLifetime.timeInterval))
    }

    /// Whether the access token with `claims` was revoked, alone or with its grant.
    public static func isRevoked(_ claims: AccessTokenClaims, tokenStatus: any TokenStatusStore) async throws -> Bool {
        if try await tokenStatus.isTokenRevoked(id: claims.tokenID) { return true }
        guard let grantID = claims.grantID else { return false }
        return try await tokenStatus.isTokenRevoked(id: tokenStatusID(ofGrant: grantID))
    }
}
