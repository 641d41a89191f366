import JWTKit
public import PixyCore
import Foundation

/// The JWT claims set of an RFC 9068 access token, as jwt-kit decodes it when verifying (tokens
/// are written by `SigningKeyRing.issueAccessToken`).
struct AccessTokenPayload: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var clientID: String
    var scope: String?
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim
    var authTime: Int?
    var grantID: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, iat, exp, jti, scope
        case clientID = "client_id"
        case authTime = "auth_time"
        case grantID = "grant_id"
    }

    /// Expiry is checked by the caller against the injected clock, not against the system's.
    func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// The claims in PixyCore's terms.
    var claims: AccessTokenClaims? {
        guard let audience = aud.value.first, aud.value.count == 1, let scope = Scope(parsing: scope ?? "") else { return nil }
        return AccessTokenClaims(
            issuer: iss.value, subject: sub.value, audience: audience, clientID: ClientID(clientID), scope: scope,
            issuedAt: iat.value, expiresAt: exp.value, tokenID: jti.value,
            authTime: authTime.map { Date(timeIntervalSince1970: Double($0)) }, grantID: grantID)
    }
}
