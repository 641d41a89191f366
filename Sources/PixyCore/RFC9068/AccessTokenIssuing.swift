public import struct Foundation.Date

/// The claims of an RFC 9068 JWT access token.
public struct AccessTokenClaims: Sendable, Equatable {
    /// `iss`.
    public var issuer: String
    /// `sub`: the user.
    public var subject: String
    /// `aud`: the RFC 8707 resource, or the issuer when none was requested.
    public var audience: String
    /// `client_id`.
    public var clientID: ClientID
    /// `scope`.
    public var scope: Scope
    /// `iat`.
    public var issuedAt: Date
    /// `exp`.
    public var expiresAt: Date
    /// `jti`: unique per token.
    public var tokenID: String
    /// `auth_time`.
    public var authTime: Date?
    /// `grant_id` (private claim): the grant (refresh-token family) the token came from, so that
    /// revoking the grant revokes the token without the grant listing its tokens.
    public var grantID: String?

    /// Creates claims.
    public init(
        issuer: String, subject: String, audience: String, clientID: ClientID, scope: Scope,
        issuedAt: Date, expiresAt: Date, tokenID: String, authTime: Date?, grantID: String? = nil
    ) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.clientID = clientID
        self.scope = scope
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.tokenID = tokenID
        self.authTime = authTime
        self.grantID = grantID
    }
}

/// Signs access tokens. PixyCore decides what goes in a token; PixyJWT decides how it is signed.
public protocol AccessTokenIssuing: Sendable {
    /// The serialized, signed token.
    func issueAccessToken(_ claims: AccessTokenClaims) async throws -> String
}

/// Verifies access tokens this server issued: signature by one of its own keys, named by `kid`
/// (never a fallback to another key), and `iss`. Expiry and revocation are the caller's to check,
/// with the injected clock and the token status store.
public protocol AccessTokenVerifying: Sendable {
    /// The claims of `token`, or `nil` if it was not issued (and signed) by this server.
    func verifiedClaims(of token: String) async -> AccessTokenClaims?
}
