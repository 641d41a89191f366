import JWTKit
public import PixyCore
import Foundation

/// The JWT claims set of an RFC 9068 access token.
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

    init(_ claims: AccessTokenClaims) {
        iss = IssuerClaim(value: claims.issuer)
        sub = SubjectClaim(value: claims.subject)
        aud = AudienceClaim(value: claims.audience)
        clientID = claims.clientID.rawValue
        scope = claims.scope.isEmpty ? nil : claims.scope.description
        // NumericDate in whole seconds: fractional values are legal (RFC 7519 §2) but trip validators.
        iat = IssuedAtClaim(value: Date(timeIntervalSince1970: claims.issuedAt.timeIntervalSince1970.rounded(.down)))
        exp = ExpirationClaim(value: Date(timeIntervalSince1970: claims.expiresAt.timeIntervalSince1970.rounded(.down)))
        jti = IDClaim(value: claims.tokenID)
        authTime = claims.authTime.map { Int($0.timeIntervalSince1970) }
        grantID = claims.grantID
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
