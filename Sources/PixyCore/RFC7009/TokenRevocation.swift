public import Foundation

/// The parameters of a revocation request (RFC 7009 §2.1), read once from the form.
public struct RevocationRequest: ClientAuthenticatedBody, Equatable {
    /// `token`: the access or refresh token to revoke.
    public var token: String?
    /// `token_type_hint`: optional and only a hint (RFC 7009 §2.1), so Pixy does not need it.
    public var tokenTypeHint: String?

    /// Creates a request.
    public init(token: String?, tokenTypeHint: String? = nil) {
        self.token = token
        self.tokenTypeHint = tokenTypeHint
    }

    /// Reads the revocation request's parameters from the form.
    public init(form: FormParameters) {
        self.init(token: form.values("token").first, tokenTypeHint: form.values("token_type_hint").first)
    }
}

/// `POST /revoke` (RFC 7009; docs/security.md §9).
public struct TokenRevocation: Sendable {
    private let authenticator: ClientAuthenticator
    private let verifier: any AccessTokenVerifying
    private let tokenStatus: any TokenStatusStore
    private let grants: any GrantStore
    private let policy: ServerPolicy
    private let clock: any WallClock

    private let telemetry: Telemetry

    /// Creates the endpoint logic.
    public init(
        clients: any ClientStore, verifier: any AccessTokenVerifying, tokenStatus: any TokenStatusStore,
        grants: any GrantStore, policy: ServerPolicy, clock: any WallClock, telemetry: Telemetry = .disabled
    ) {
        self.telemetry = telemetry
        authenticator = ClientAuthenticator(clients: clients)
        self.verifier = verifier
        self.tokenStatus = tokenStatus
        self.grants = grants
        self.policy = policy
        self.clock = clock
    }

    /// What happened, for the log (the client always sees 200).
    public enum Outcome: Sendable, Equatable {
        /// The token was this client's and is now revoked.
        case revoked
        /// Unknown, expired, or not a token of this server: nothing to do (RFC 7009 §2.2).
        case unknown
        /// Another client's token: treated like an unknown one, so `/revoke` is no oracle.
        case foreign
    }

    /// Authenticates the client (public clients identify themselves with `client_id`, RFC 7009
    /// §2.1), then revokes `token` if it is one of this client's live access tokens, or any
    /// refresh token of one of its families (which revokes the family and its access tokens).
    /// `token_type_hint` is optional and only a hint (RFC 7009 §2.1), so it is not needed here.
    public func handle(_ request: ClientAuthenticated<RevocationRequest>) async throws(OAuthError) -> Outcome {
        let client = try await authenticator.authenticate(request.credentials)
        guard let token = request.body.token else {
            throw .invalidRequest("The token parameter is missing.")
        }
        let now = clock.now()
        do {
            guard let claims = await verifier.verifiedClaims(of: token) else {
                return try await revokeRefreshToken(token, clientID: client.clientID, now: now)
            }
            guard claims.expiresAt > now else { return .unknown }
            guard claims.clientID == client.clientID else { return .foreign }
            try await tokenStatus.revokeToken(id: claims.tokenID, expiresAt: claims.expiresAt)
            return .revoked
        } catch {
            throw .storageFailure(error, while: "revocation")
        }
    }

    func revokeRefreshToken(_ token: String, clientID: ClientID, now: Date) async throws -> Outcome {
        let result = try await grants.updateGrant(refreshTokenHash: SecretHash.sha256Hex(token)) {
            grant -> GrantUpdate<(Outcome, String)> in
            guard grant.clientID == clientID else { return .keep((.foreign, grant.id)) }
            guard grant.revokedAt == nil, grant.expiresAt > now else { return .keep((.unknown, grant.id)) }
            grant.revoke(at: now)
            return .save((.revoked, grant.id), newTokenHash: nil)
        }
        guard let (outcome, grantID) = result else { return .unknown }
        if outcome == .revoked {
            telemetry.familyRevoked(.client)
            try await GrantRevocation.revokeAccessTokens(ofGrant: grantID, tokenStatus: tokenStatus, policy: policy, now: now)
        }
        return outcome
    }
}
