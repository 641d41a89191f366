/// `POST /revoke` (RFC 7009; SECURITY.md §9).
public struct TokenRevocation: Sendable {
    private let authenticator: ClientAuthenticator
    private let verifier: any AccessTokenVerifying
    private let tokenStatus: any TokenStatusStore
    private let clock: any WallClock

    /// Creates the endpoint logic.
    public init(clients: any ClientStore, verifier: any AccessTokenVerifying, tokenStatus: any TokenStatusStore, clock: any WallClock) {
        authenticator = ClientAuthenticator(clients: clients)
        self.verifier = verifier
        self.tokenStatus = tokenStatus
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
    /// §2.1), then revokes `token` if it is one of this client's live access tokens.
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
        guard let claims = await verifier.verifiedClaims(of: token), claims.expiresAt > clock.now() else { return .unknown }
        guard claims.clientID == client.clientID else { return .foreign }
        do {
            try await tokenStatus.revokeToken(id: claims.tokenID, expiresAt: claims.expiresAt)
        } catch {
            throw fail(.serverError(detail: "revocation failed: \(error)"))
        }
        return .revoked
    }
}
