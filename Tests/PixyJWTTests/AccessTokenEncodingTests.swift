import Crypto
import Foundation
import PixyCore
import PixyJWT
import PixyModel
import PixyTesting
import Testing

/// Tokens are written byte by byte (SigningKeyRing.issueAccessToken); these tests read them back
/// with independent decoders: Foundation's JSON parser, swift-crypto's verifier, and jwt-kit
/// through `verifiedClaims`.
@Suite("RFC 9068 §2: the access token's JWS encoding")
struct AccessTokenEncodingTests {
    private func parts(of token: String) throws -> (header: [String: Any], payload: [String: Any], signingInput: String, signature: [UInt8])
    {
        let pieces = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard pieces.count == 3, let header = Base64URL.decode(pieces[0]), let payload = Base64URL.decode(pieces[1]),
            let signature = Base64URL.decode(pieces[2]),
            let headerObject = try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any],
            let payloadObject = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
        else { throw TestFailure("not a JWS compact serialization: \(token)") }
        return (headerObject, payloadObject, pieces[0] + "." + pieces[1], signature)
    }

    /// A manual clock and a key ring with one fresh key for the issuer `https://auth.example.com`.
    private func freshKeys() async throws -> (ManualClock, SigningKeys) {
        let clock = ManualClock()
        let keys = try await SigningKeys(
            store: InMemoryStore(clock: clock), clock: clock, issuer: "https://auth.example.com", retention: .seconds(900))
        return (clock, keys)
    }

    @Test("RFC 9068 §2.1-2.2: header alg/kid/typ only, every claim with its JSON type, whole-second dates")
    func headerAndClaims() async throws {
        let (clock, keys) = try await freshKeys()
        var claims = sampleClaims(clock: clock)
        claims.grantID = "grant-1"
        claims.scope = Scope(validatedTokens: ["read", "write"])
        claims.issuedAt = Date(timeIntervalSince1970: 1_700_000_000.75)
        claims.expiresAt = Date(timeIntervalSince1970: 1_700_000_900.75)
        claims.authTime = Date(timeIntervalSince1970: 1_699_999_000)
        let token = try await keys.issueAccessToken(claims)
        let (header, payload, _, signature) = try parts(of: token)

        #expect(header.count == 3)
        #expect(header["alg"] as? String == "ES256")
        #expect(header["typ"] as? String == "at+jwt")
        #expect(header["kid"] as? String == keys.currentKeyID)
        #expect(signature.count == 64, "ES256 is R || S, 32 bytes each (RFC 7518 §3.4)")

        #expect(Set(payload.keys) == ["iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti", "auth_time", "grant_id"])
        #expect(payload["iss"] as? String == "https://auth.example.com")
        #expect(payload["sub"] as? String == "user-1")
        #expect(payload["aud"] as? String == "https://auth.example.com")
        #expect(payload["client_id"] as? String == "app")
        #expect(payload["scope"] as? String == "read write")
        #expect(payload["jti"] as? String == claims.tokenID)
        #expect(payload["grant_id"] as? String == "grant-1")
        #expect((payload["iat"] as? NSNumber)?.stringValue == "1700000000")
        #expect((payload["exp"] as? NSNumber)?.stringValue == "1700000900")
        #expect((payload["auth_time"] as? NSNumber)?.stringValue == "1699999000")

        let verified = try #require(await keys.verifiedClaims(of: token))
        #expect(verified.scope == claims.scope && verified.grantID == "grant-1" && verified.subject == "user-1")
        #expect(verified.issuedAt == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test("RFC 7518 §3.4: the signature verifies with the published JWK over header.payload")
    func signatureVerifiesWithPublishedKey() async throws {
        let (clock, keys) = try await freshKeys()
        let token = try await keys.issueAccessToken(sampleClaims(clock: clock))
        let (_, _, signingInput, signature) = try parts(of: token)

        let jwks = try #require(try JSONSerialization.jsonObject(with: Data(keys.jwksJSON.utf8)) as? [String: [[String: String]]])
        let jwk = try #require(jwks["keys"]?.first { $0["kid"] == keys.currentKeyID })
        let xText = try #require(jwk["x"]), yText = try #require(jwk["y"])
        let x = try #require(Base64URL.decode(xText)), y = try #require(Base64URL.decode(yText))
        let publicKey = try P256.Signing.PublicKey(rawRepresentation: x + y)
        let ecdsa = try P256.Signing.ECDSASignature(rawRepresentation: signature)
        #expect(publicKey.isValidSignature(ecdsa, for: Array(signingInput.utf8)))

        var tampered = Array(signingInput.utf8)
        tampered[tampered.count - 2] ^= 0x01
        #expect(!publicKey.isValidSignature(ecdsa, for: tampered))
    }

    @Test("RFC 8259 §7: quotes, backslashes, control characters and non-ASCII text in claims survive the round trip")
    func stringsAreEscaped() async throws {
        let (clock, keys) = try await freshKeys()
        var claims = sampleClaims(clock: clock)
        claims.subject = "a\"b\\c\u{0}d\u{1F}e\nf\tg/h é 鍵 🔑 \u{7F}"
        claims.audience = "https://mcp.example.com/path?x=\"}"
        claims.authTime = nil
        let token = try await keys.issueAccessToken(claims)
        let (_, payload, _, _) = try parts(of: token)
        #expect(payload["sub"] as? String == claims.subject)
        #expect(payload["aud"] as? String == claims.audience)
        #expect(payload["auth_time"] == nil && payload["grant_id"] == nil)

        let verified = try #require(await keys.verifiedClaims(of: token))
        #expect(verified.subject == claims.subject && verified.audience == claims.audience && verified.authTime == nil)
    }
}
