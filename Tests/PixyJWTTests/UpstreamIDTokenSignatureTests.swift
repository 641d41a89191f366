import Crypto
import Foundation
import PixyCore
import PixyJWT
import PixyModel
import Testing

/// OpenID Connect Core §3.1.3.7 steps 6–8 and RFC 7515 §5.2: an upstream ID token verifies only
/// under an allowed algorithm, with the key of the provider's JWK Set its `kid` names.
@Suite("Upstream ID token signatures")
struct UpstreamIDTokenSignatureTests {
    let key = P256.Signing.PrivateKey()
    let otherKey = P256.Signing.PrivateKey()

    func jwk(_ key: P256.Signing.PrivateKey, kid: String, extra: [String: String] = [:]) -> [String: String] {
        let point = key.publicKey.x963Representation.dropFirst()
        var jwk = [
            "kty": "EC", "crv": "P-256", "kid": kid, "x": Base64URL.encode(Array(point.prefix(32))),
            "y": Base64URL.encode(Array(point.suffix(32))),
        ]
        jwk.merge(extra) { $1 }
        return jwk
    }

    func jwks(_ keys: [[String: String]]) throws -> Data { try JSONEncoder().encode(["keys": keys]) }

    func token(header: [String: String], claims: [String: String] = ["sub": "user-1"], signedWith key: P256.Signing.PrivateKey) throws
        -> String
    {
        let input =
            Base64URL.encode(Array(try JSONEncoder().encode(header))) + "." + Base64URL.encode(Array(try JSONEncoder().encode(claims)))
        let signature = try key.signature(for: Data(input.utf8)).rawRepresentation
        return input + "." + Base64URL.encode(Array(signature))
    }

    func failure(_ token: String, jwks: Data, allowed: Set<String> = ["ES256", "RS256"]) async -> UpstreamFailure? {
        do {
            _ = try await UpstreamIDTokenSignature.verifiedClaims(of: token, jwks: jwks, allowed: allowed)
            return nil
        } catch {
            return error
        }
    }

    @Test("A token signed by the key its kid names verifies, and its claims come back")
    func verifies() async throws {
        let set = try jwks([jwk(otherKey, kid: "k0"), jwk(key, kid: "k1")])
        let claims = try await UpstreamIDTokenSignature.verifiedClaims(
            of: try token(header: ["alg": "ES256", "kid": "k1"], signedWith: key), jwks: set, allowed: ["ES256"])
        #expect(claims["sub"] == .string("user-1"))
    }

    @Test("§3.1.3.7 step 7: an algorithm outside the allow-list is refused, whatever the signature")
    func algorithmAllowList() async throws {
        let set = try jwks([jwk(key, kid: "k1")])
        let good = try token(header: ["alg": "ES256", "kid": "k1"], signedWith: key)
        #expect(await failure(good, jwks: set, allowed: ["RS256"]) != nil)
        let parts = good.split(separator: ".")
        let none = Base64URL.encode(Array(#"{"alg":"none","kid":"k1"}"#.utf8)) + "." + parts[1] + "."
        #expect(await failure(none, jwks: set) != nil)
        let hmac = Base64URL.encode(Array(#"{"alg":"HS256","kid":"k1"}"#.utf8)) + "." + parts[1] + "." + parts[2]
        #expect(await failure(hmac, jwks: set) != nil)
    }

    @Test("RFC 7515 §5.2: a signature by another key under the same kid is refused")
    func wrongKey() async throws {
        let set = try jwks([jwk(key, kid: "k1")])
        #expect(await failure(try token(header: ["alg": "ES256", "kid": "k1"], signedWith: otherKey), jwks: set) != nil)
    }

    @Test("An unknown kid is refused (and said so, so the set is fetched again once), never tried on another key")
    func unknownKeyID() async throws {
        let set = try jwks([jwk(key, kid: "k1")])
        let failure = await failure(try token(header: ["alg": "ES256", "kid": "k2"], signedWith: key), jwks: set)
        #expect(failure.map(UpstreamIDTokenSignature.keyIsUnknown) == true)
    }

    @Test("A key published for encryption, or for another algorithm, does not verify")
    func keyUse() async throws {
        let signed = try token(header: ["alg": "ES256", "kid": "k1"], signedWith: key)
        #expect(await failure(signed, jwks: try jwks([jwk(key, kid: "k1", extra: ["use": "enc"])])) != nil)
        #expect(await failure(signed, jwks: try jwks([jwk(key, kid: "k1", extra: ["alg": "ES384"])])) != nil)
        #expect(await failure(signed, jwks: try jwks([jwk(key, kid: "k1", extra: ["use": "sig", "alg": "ES256"])])) == nil)
    }

    @Test("Without a kid, the token verifies only with a fitting key of the set")
    func noKeyID() async throws {
        let signed = try token(header: ["alg": "ES256"], signedWith: key)
        #expect(await failure(signed, jwks: try jwks([jwk(key, kid: "k1")])) == nil)
        #expect(await failure(signed, jwks: try jwks([jwk(otherKey, kid: "k1")])) != nil)
    }
}
