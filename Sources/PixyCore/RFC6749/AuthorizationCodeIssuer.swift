public import struct Foundation.Date
public import PixyModel

/// Mints authorization codes once the user has approved (RFC 6749 §4.1.2).
public struct AuthorizationCodeIssuer: Sendable {
    private let codes: any AuthorizationCodeStore
    private let policy: ServerPolicy
    private let clock: any WallClock

    /// Creates an issuer.
    public init(codes: any AuthorizationCodeStore, policy: ServerPolicy, clock: any WallClock) {
        self.codes = codes
        self.policy = policy
        self.clock = clock
    }

    /// Stores a new code for `request` and `subject` and returns the redirect URL carrying it.
    ///
    /// The code is 256 bits from the CSPRNG (docs/security.md §3 asks ≥ 128); only its SHA-256 is
    /// stored, under `auth:code:<hash>`, with the configured TTL and an absolute expiry.
    public func issueCode(for request: AuthorizationRequest, subject: String, authTime: Date) async throws -> (
        code: String, redirect: String
    ) {
        let code = SecureRandom.token(byteCount: 32)
        let now = clock.now()
        let record = AuthorizationCodeRecord(
            clientID: request.clientID, redirectURI: request.redirectURI, codeChallenge: request.codeChallenge,
            scope: request.scope, resource: request.resource, subject: subject, issuer: policy.issuer,
            authTime: authTime, expiresAt: now.addingTimeInterval(policy.codeLifetime.timeInterval))
        try await codes.storeCode(record, codeHash: SecretHash.sha256Hex(code), ttl: policy.codeLifetime)
        let redirect = AuthorizationResponse.success(
            redirectURI: request.redirectURI, code: code, state: request.state, issuer: policy.issuer)
        return (code, redirect)
    }
}
