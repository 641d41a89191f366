public import PixyModel
import Foundation

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

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case scope
    }

    /// Creates a response.
    public init(accessToken: String, tokenType: String = "Bearer", expiresIn: Int, scope: String?) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.scope = scope
    }
}

/// `POST /token`: authenticates the client, then runs the grant (SECURITY.md §4).
public struct TokenEndpoint: Sendable {
    private let authenticator: ClientAuthenticator
    private let codes: any AuthorizationCodeStore
    private let tokens: any AccessTokenIssuing
    private let tokenStatus: any TokenStatusStore
    private let policy: ServerPolicy
    private let clock: any WallClock

    /// Creates the endpoint logic.
    public init(clients: any ClientStore, codes: any AuthorizationCodeStore, tokens: any AccessTokenIssuing,
                tokenStatus: any TokenStatusStore, policy: ServerPolicy, clock: any WallClock) {
        self.authenticator = ClientAuthenticator(clients: clients)
        self.codes = codes
        self.tokens = tokens
        self.tokenStatus = tokenStatus
        self.policy = policy
        self.clock = clock
    }

    /// Handles a token request: `parameters` is the decoded form body, `basic` the decoded
    /// `Authorization: Basic` credentials if the client sent any.
    public func handle(_ parameters: FormParameters, basic: (clientID: String, secret: String)?) async throws(ClientAuthenticator.Failure) -> TokenResponse {
        let usedBasic = basic != nil
        func fail(_ error: OAuthError) -> ClientAuthenticator.Failure {
            ClientAuthenticator.Failure(error: error, usedBasic: usedBasic)
        }
        do { try parameters.rejectRepeats() } catch { throw fail(error) }

        let credentials = ClientAuthenticator.Credentials(
            basic: basic, formClientID: parameters.values("client_id").first,
            formClientSecret: parameters.values("client_secret").first)
        let client = try await authenticator.authenticate(credentials)

        guard let grantType = parameters.values("grant_type").first else {
            throw fail(.invalidRequest("The grant_type parameter is missing."))
        }
        guard let grant = GrantType(rawValue: grantType), grant == .authorizationCode else {
            throw fail(OAuthError(.unsupportedGrantType, "The grant_type is not supported."))
        }
        guard client.grantTypes.contains(grant) else {
            throw fail(OAuthError(.unauthorizedClient, "This client may not use this grant type."))
        }
        do {
            return try await redeemCode(parameters, client: client)
        } catch let error as OAuthError {
            throw fail(error)
        } catch {
            throw fail(.serverError(detail: "token request failed: \(error)"))
        }
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5–4.6, in this order:
    /// 1. request shape (code present, verifier well-formed) — `invalid_request`, nothing consumed;
    /// 2. consume the code atomically; from here on it is gone whatever happens (SECURITY.md §3);
    /// 3. expiry, client, redirect URI, issuer, verifier, resource — each `invalid_grant`
    ///    (or `invalid_target`);
    /// 4. leave a "used" marker, so that a later replay by the legitimate client (right client,
    ///    right verifier) revokes the tokens this code produced (RFC 6749 §4.1.2; SECURITY.md §3).
    func redeemCode(_ parameters: FormParameters, client: Client) async throws -> TokenResponse {
        guard let code = parameters.values("code").first else {
            throw OAuthError.invalidRequest("The code parameter is missing.")
        }
        let verifier = try PKCEPolicy.verifier(parameters.values("code_verifier").first)
        let requestedResource = parameters.values("resource").first

        let codeHash = SecretHash.sha256Hex(code)
        guard let record = try await codes.consumeCode(codeHash: codeHash) else {
            try await handleReplay(codeHash: codeHash, client: client, verifier: verifier)
            throw OAuthError.invalidGrant("The authorization code is invalid, expired or already used.", detail: "no such code")
        }
        let now = clock.now()
        guard record.expiresAt > now else {
            throw OAuthError.invalidGrant("The authorization code is invalid, expired or already used.", detail: "code expired")
        }
        guard record.clientID == client.clientID else {
            throw OAuthError.invalidGrant("The authorization code was issued to another client.", detail: "client mismatch")
        }
        if let redirectURI = parameters.values("redirect_uri").first {
            // SECURITY.md §4: when sent, it must equal the one used at /authorize, byte for byte.
            guard redirectURI.utf8.elementsEqual(record.redirectURI.utf8) else {
                throw OAuthError.invalidGrant("The redirect_uri does not match the authorization request.")
            }
        }
        guard record.issuer == policy.issuer else {
            throw OAuthError.invalidGrant("The authorization code was issued by another issuer.", detail: "issuer mismatch")
        }
        try PKCEPolicy.verify(verifier, against: record.codeChallenge)
        if let requestedResource {
            // RFC 8707 §2.2: the token request may only name a resource the grant covers.
            guard requestedResource == record.resource else {
                throw OAuthError.invalidTarget("The resource is not covered by this authorization.")
            }
        }

        let claims = AccessTokenClaims(
            issuer: policy.issuer, subject: record.subject, audience: record.resource ?? policy.issuer,
            clientID: client.clientID, scope: record.scope, issuedAt: now,
            expiresAt: now.addingTimeInterval(policy.accessTokenLifetime.timeInterval),
            tokenID: SecureRandom.token(byteCount: 16), authTime: record.authTime)
        let accessToken = try await tokens.issueAccessToken(claims)
        try await tokenStatus.markCodeUsed(
            codeHash: codeHash,
            UsedCodeMarker(clientID: client.clientID, codeChallenge: record.codeChallenge, tokenIDs: [claims.tokenID],
                           tokensExpireAt: claims.expiresAt),
            ttl: policy.accessTokenLifetime)
        return TokenResponse(
            accessToken: accessToken, expiresIn: Int(policy.accessTokenLifetime.timeInterval),
            scope: record.scope.isEmpty ? nil : record.scope.description)
    }

    /// A code that is gone may have been redeemed before. If it was, and this request carries the
    /// same client and a verifier for the code's challenge, the code has leaked or been replayed:
    /// revoke what it produced. Anyone else learns nothing and revokes nothing.
    func handleReplay(codeHash: String, client: Client, verifier: CodeVerifier) async throws {
        guard let marker = try await tokenStatus.usedCodeMarker(codeHash: codeHash),
              marker.clientID == client.clientID, marker.codeChallenge.isSatisfied(by: verifier)
        else { return }
        for tokenID in marker.tokenIDs {
            try await tokenStatus.revokeToken(id: tokenID, expiresAt: marker.tokensExpireAt)
        }
        throw OAuthError.invalidGrant("The authorization code is invalid, expired or already used.",
                                      detail: "code replayed by its client; \(marker.tokenIDs.count) token(s) revoked")
    }
}
