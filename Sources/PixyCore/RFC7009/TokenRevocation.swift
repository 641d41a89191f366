public import Foundation
/// `POST /revoke` (RFC 7009; SECURITY.md §9).
public struct TokenRevocation: Sendable {
    private let authenticator: ClientAuthenticator
    private let verifier: any AccessTokenVerifying
    private let tokenStatus: any TokenStatusStore
    private let grants: any GrantStore
    private let policy: ServerPolicy
    private let clock: any WallClock

    /// Creates the endpoint logic.
    public init(clients: any ClientStore, verifier: any AccessTokenVerifying, tokenStatus: any TokenStatusStore,
                grants: any GrantStore, policy: ServerPolicy, clock: any WallClock) {
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
    public func handle(_ parameters: FormParameters, basic: (clientID: String, secret: String)?) async throws(ClientAuthenticator.Failure) -> Outcome {
        let usedBasic = basic != nil
        func fail(_ error: OAuthError) -> ClientAuthenticator.Failure { .init(error: error, usedBasic: usedBasic) }
        do { try parameters.rejectRepeats() } catch { throw fail(error) }
        let client = try await authenticator.authenticate(.init(
            basic: basic, formClientID: parameters.values("client_id").first, formClientSecret: parameters.values("client_secret").first))
        guard let token = parameters.values("token").first else {
            throw fail(.invalidRequest("The token parameter is missing."))
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
            throw fail(.storageFailure(error, while: "revocation"))
        }
    }

    func revokeRefreshToken(_ token: String, clientID: ClientID, now: Date) async throws -> Outcome {
        let result = try await grants.updateGrant(refreshTokenHash: SecretHash.sha256Hex(token)) { grant -> GrantUpdate<(Outcome, String)> in
            guard grant.clientID == clientID else { return .keep((.foreign, grant.id)) }
            guard grant.revokedAt == nil, grant.expiresAt > now else { return .keep((.unknown, grant.id)) }
            grant.revokedAt = now
            grant.sealedCurrentToken = nil
            return .save((.revoked, grant.id), newTokenHash: nil)
        }
        guard let (outcome, grantID) = result else { return .unknown }
        if outcome == .revoked {
            try await GrantRevocation.revokeAccessTokens(ofGrant: grantID, tokenStatus: tokenStatus, policy: policy, now: now)
        }
        return outcome
    }
}
