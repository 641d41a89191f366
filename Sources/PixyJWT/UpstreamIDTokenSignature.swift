public import Foundation
import JWTKit
public import PixyCore
import PixyModel

/// The signature check of an upstream provider's ID token (OpenID Connect Core §3.1.3.7
/// steps 6–8; RFC 7515 §5.2): the header's `alg` must be one the operator allows, and the key
/// is the one of the provider's JWK Set that the header's `kid` names, of the matching type.
/// The claims are checked afterwards by ``IDTokenValidation``.
public enum UpstreamIDTokenSignature {
    /// The claims of `token`, once its signature verifies.
    ///
    /// - Parameters:
    ///   - jwks: the provider's JWK Set, as served at its `jwks_uri`.
    ///   - allowed: the JWS algorithms the operator accepts (``UpstreamProvider/allowedAlgorithms``).
    /// - Throws: ``UpstreamFailure`` with ``UpstreamFailure/Code/invalidIDToken``; when no key
    ///   of the set carries the header's `kid`, the detail says so and ``keyIsUnknown(_:)`` is
    ///   true, so the caller may fetch the set again once (the provider rotated its keys).
    public static func verifiedClaims(of token: String, jwks: Data, allowed: Set<String>) async throws(UpstreamFailure) -> Claims {
        func refuse(_ reason: String) -> UpstreamFailure { UpstreamFailure(.invalidIDToken, reason) }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(String(parts[0])),
            let header = try? JSONDecoder().decode(Claims.self, from: Data(headerBytes))
        else { throw refuse("the ID token is not a compact JWS") }
        guard let algorithm = header["alg"]?.string, allowed.contains(algorithm) else {
            throw refuse("the ID token's alg is not one of the allowed algorithms")
        }
        if header["crit"] != nil { throw refuse("the ID token's header has crit parameters") }
        let keyID = header["kid"]?.string

        guard let set = try? JSONDecoder().decode([String: [Claims]].self, from: jwks), let keys = set["keys"] else {
            throw UpstreamFailure(.invalidResponse, "the provider's JWK Set is not a JSON object with keys")
        }
        let family = algorithm.hasPrefix("ES") ? "EC" : "RSA"
        let candidates = keys.filter { key in
            (keyID == nil || key["kid"]?.string == keyID) && key["kty"]?.string == family
                && (key["use"] == nil || key["use"]?.string == "sig") && (key["alg"] == nil || key["alg"]?.string == algorithm)
                && key["d"] == nil
        }
        guard !candidates.isEmpty else {
            throw refuse(keyID == nil ? "no key of the provider's JWK Set fits the ID token" : unknownKey)
        }
        // One key per collection, so jwt-kit's default-key fallback can only ever pick that key.
        for candidate in candidates {
            var key = candidate
            if key["kid"] == nil { key["kid"] = .string("upstream") }
            guard let encoded = try? JSONEncoder().encode(key), let jwk = try? JSONDecoder().decode(JWK.self, from: encoded) else {
                continue
            }
            let collection = JWTKeyCollection()
            do {
                try await collection.add(jwk: jwk, isDefault: true)
                return try await collection.verify(token, as: UpstreamClaims.self).claims
            } catch {
                continue
            }
        }
        throw refuse("the ID token's signature does not verify")
    }

    static let unknownKey = "no key of the provider's JWK Set has the ID token's kid"

    /// Whether `failure` says the JWK Set lacks the token's key (fetch the set again once).
    public static func keyIsUnknown(_ failure: UpstreamFailure) -> Bool { failure.detail == unknownKey }
}

/// The payload as received; every claim rule is ``IDTokenValidation``'s.
struct UpstreamClaims: JWTPayload {
    var claims: Claims

    init(from decoder: any Decoder) throws { claims = try Claims(from: decoder) }
    func encode(to encoder: any Encoder) throws { try claims.encode(to: encoder) }
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
