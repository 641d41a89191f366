public import Foundation
import PixyModel

/// The claim checks of an ID token received at the token endpoint (OpenID Connect Core
/// §3.1.3.7); the signature (steps 6–8) was checked by the ``UpstreamConnecting`` that fetched
/// it. Each rule below has its own test in `IDTokenValidationTests`.
public enum IDTokenValidation {
    /// How far the clocks of Pixy and the provider may disagree.
    public static let clockSkew: TimeInterval = 60
    /// How old an ID token may be when it arrives: it was issued by the exchange a moment ago.
    public static let maximumAge: TimeInterval = 600

    /// The identity an ID token names, once every check passed.
    ///
    /// - Parameters:
    ///   - issuer: the provider's issuer (step 2: `iss` must equal it exactly).
    ///   - clientID: Pixy's client id there (step 3: in `aud`; steps 4–5: `azp`).
    ///   - nonce: the nonce sent with this sign-in (step 11), compared in constant time.
    ///   - signedInSince: when the client asked for a fresh sign-in (`prompt=login`), the time the
    ///     user was sent to the provider: `auth_time` must be present and not earlier (§3.1.2.1
    ///     `max_age=0`; step 13).
    public static func identity(
        from claims: Claims, provider: UpstreamProvider, issuer: String, nonce: String, now: Date, signedInSince: Date? = nil
    ) throws(UpstreamFailure) -> UpstreamIdentity {
        func refuse(_ reason: String) -> UpstreamFailure { UpstreamFailure(.invalidIDToken, reason) }
        guard claims["iss"]?.string == issuer else { throw refuse("iss is not the provider's issuer") }
        let audiences: [String]
        switch claims["aud"] {
        case .string(let audience)?: audiences = [audience]
        case .array(let values)?: audiences = values.compactMap(\.string)
        default: throw refuse("aud is missing")
        }
        guard audiences.contains(provider.clientID) else { throw refuse("aud does not name Pixy's client id") }
        if let azp = claims["azp"] {
            guard azp.string == provider.clientID else { throw refuse("azp names another client") }
        } else if audiences.count > 1 {
            throw refuse("aud names several audiences and azp is missing")
        }
        guard case .number(let expiry)? = claims["exp"] else { throw refuse("exp is missing") }
        guard now.timeIntervalSince1970 < expiry + clockSkew else { throw refuse("the ID token has expired") }
        guard case .number(let issuedAt)? = claims["iat"] else { throw refuse("iat is missing") }
        let age = now.timeIntervalSince1970 - issuedAt
        guard age > -clockSkew, age < maximumAge + clockSkew else { throw refuse("iat is too far from now") }
        guard let sent = claims["nonce"]?.string, ConstantTime.isEqual(sent, nonce) else {
            throw refuse("nonce is missing or not the one sent")
        }
        guard let subject = claims["sub"]?.string, !subject.isEmpty, subject.utf8.count <= 255 else {
            throw refuse("sub is missing or longer than 255 bytes")
        }
        if let signedInSince {
            guard case .number(let authTime)? = claims["auth_time"], authTime >= signedInSince.timeIntervalSince1970 - clockSkew else {
                throw refuse("a fresh sign-in was asked for and auth_time does not show one")
            }
        }
        return UpstreamIdentity(
            provider: provider.id, subject: subject, email: claims["email"]?.string,
            name: claims["preferred_username"]?.string ?? claims["name"]?.string, issuer: issuer)
    }

    /// When the user authenticated at the provider: the ID token's `auth_time` when it is sent
    /// and not in the future, else `now` (the sign-in just happened).
    public static func authenticationTime(from claims: Claims, now: Date) -> Date {
        guard case .number(let value)? = claims["auth_time"], value <= now.timeIntervalSince1970 + clockSkew else { return now }
        return min(now, Date(timeIntervalSince1970: value))
    }

    /// The identity a plain OAuth 2 provider's userinfo response names, by the configured claims.
    public static func identity(fromUserinfo claims: Claims, provider: UpstreamProvider) throws(UpstreamFailure) -> UpstreamIdentity {
        guard case .oauth2(let endpoints) = provider.kind else {
            throw UpstreamFailure(.invalidResponse, "userinfo identity is for plain OAuth 2 providers")
        }
        guard let subject = claims[endpoints.subjectClaim]?.identifier, !subject.isEmpty, subject.utf8.count <= 255 else {
            throw UpstreamFailure(.invalidResponse, "the userinfo response has no usable \(endpoints.subjectClaim)")
        }
        return UpstreamIdentity(
            provider: provider.id, subject: subject, email: endpoints.emailClaim.flatMap { claims[$0]?.string },
            name: endpoints.nameClaim.flatMap { claims[$0]?.string }, issuer: endpoints.userinfoEndpoint)
    }
}
