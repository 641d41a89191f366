import Crypto
import Foundation
import PixyModel
import Testing

@Suite("RFC 7636 PKCE")
struct RFC7636Tests {
    @Test("Appendix B: the RFC's verifier gives the RFC's S256 challenge")
    func appendixBKnownAnswer() throws {
        let verifier = try #require(CodeVerifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
        #expect(verifier.challenge.value == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let challenge = try #require(CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(challenge.isSatisfied(by: verifier))
    }

    @Test("§4.1: verifier length is 43 to 128", arguments: [(42, false), (43, true), (64, true), (128, true), (129, false), (0, false)])
    func verifierLength(length: Int, isValid: Bool) {
        #expect((CodeVerifier(String(repeating: "a", count: length)) != nil) == isValid)
    }

    @Test("§4.1: every unreserved byte is accepted, every other ASCII byte refused")
    func verifierAlphabetByteByByte() {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        for byte in UInt8(0)...UInt8(127) {
            let candidate = String(repeating: "a", count: 42) + String(decoding: [byte], as: UTF8.self)
            #expect((CodeVerifier(candidate) != nil) == unreserved.contains(byte), "byte \(byte)")
        }
    }

    @Test(
        "§4.1: trailing newline, NUL and non-ASCII look-alikes are refused (byte-level, not Unicode classes)",
        arguments: ["\n", "\0", "\r\n", "é", "Ａ", "٣", " ", "%41"])
    func verifierRefusesSneakyCharacters(suffix: String) {
        #expect(CodeVerifier(String(repeating: "a", count: 43) + suffix) == nil)
        #expect(CodeVerifier(String(repeating: "a", count: 42) + suffix) == nil)
    }

    @Test("§4.1: generated verifiers default to 64 alphanumeric characters")
    func generatedDefault() {
        let verifier = CodeVerifier.generate()
        #expect(verifier.value.utf8.count == 64)
        #expect(verifier.value.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) })
        #expect(CodeVerifier.generate() != CodeVerifier.generate())
    }

    @Test("§4.1: any length 43-128 and the full unreserved alphabet can be generated")
    func generatedOptions() {
        for length in [43, 77, 128] {
            #expect(CodeVerifier.generate(length: length, alphabet: .unreserved).value.utf8.count == length)
        }
        var seen = Set<UInt8>()
        for _ in 0..<200 { seen.formUnion(CodeVerifier.generate(length: 128, alphabet: .unreserved).value.utf8) }
        #expect(seen.count == 66)
    }

    /// With `byte % 62`, the first 8 characters would be drawn 5/256 of the time and the rest
    /// 4/256: 25 % more often. Rejection sampling makes all equally likely.
    @Test("§7.1: generation has no modulo bias (rejection sampling)")
    func generationIsUniform() {
        var counts = [UInt8: Int]()
        for _ in 0..<4000 {
            for byte in CodeVerifier.generate(length: 128).value.utf8 { counts[byte, default: 0] += 1 }
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        let first = alphabet.prefix(8).reduce(0) { $0 + counts[$1, default: 0] }
        let rest = alphabet.dropFirst(8).reduce(0) { $0 + counts[$1, default: 0] }
        let ratio = (Double(first) / 8) / (Double(rest) / 54)
        #expect(abs(ratio - 1) < 0.05, "ratio \(ratio)")
    }

    @Test("§4.2: challenge = BASE64URL(SHA256(ASCII(verifier))), no padding")
    func challengeMatchesIndependentComputation() throws {
        for _ in 0..<50 {
            let verifier = CodeVerifier.generate(length: Int.random(in: 43...128), alphabet: .unreserved)
            let digest = Data(SHA256.hash(data: Data(verifier.value.utf8)))
            let expected = digest.base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(verifier.challenge.value == expected)
        }
    }

    @Test(
        "docs/security.md §2: a challenge is exactly 43 canonical base64url characters",
        arguments: [
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", true),
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c", false),  // 42
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMA", false),  // 44
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=", false),  // padding
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM", false),  // base64, not base64url
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM", false),
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN", false),  // non-canonical trailing bits
            ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c\n", false),
        ])
    func challengeFormat(value: String, isValid: Bool) {
        #expect((CodeChallenge(value) != nil) == isValid)
    }

    @Test("§4.6: a different verifier does not satisfy the challenge")
    func wrongVerifierFails() throws {
        let challenge = try #require(CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        let other = try #require(CodeVerifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"))
        #expect(!challenge.isSatisfied(by: other))
        // The plain method's confusion: sending the challenge itself as verifier must fail.
        let challengeAsVerifier = try #require(CodeVerifier(challenge.value))
        #expect(!challenge.isSatisfied(by: challengeAsVerifier))
    }

    @Test("§4.3: only S256 exists; the method is case-sensitive")
    func onlyS256() {
        #expect(CodeChallengeMethod(rawValue: "S256") == .s256)
        #expect(CodeChallengeMethod(rawValue: "s256") == nil)
        #expect(CodeChallengeMethod(rawValue: "plain") == nil)
        #expect(CodeChallengeMethod.allCases == [.s256])
    }
}

@Suite("Supporting primitives")
struct PrimitiveTests {
    @Test("Constant-time comparison is correct for equal, different and different-length input")
    func constantTimeEquality() {
        #expect(ConstantTime.isEqual([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.isEqual([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.isEqual([1, 2, 3], [0, 2, 3]))
        #expect(!ConstantTime.isEqual([1, 2, 3], [1, 2]))
        #expect(ConstantTime.isEqual("abc", "abc"))
        #expect(!ConstantTime.isEqual("abc", "abd"))
    }

    @Test("Base64url round-trips and agrees with Foundation")
    func base64URLRoundTrip() throws {
        for length in 0..<70 {
            let bytes = SecureRandom.bytes(count: length)
            let encoded = Base64URL.encode(bytes)
            let foundation = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(encoded == foundation)
            #expect(Base64URL.decode(encoded) == bytes)
        }
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab=") == nil)
    }

    @Test("docs/security.md §3: random tokens carry 256 bits and do not repeat")
    func secureRandomTokens() {
        let tokens = (0..<1000).map { _ in SecureRandom.token() }
        #expect(Set(tokens).count == 1000)
        #expect(tokens.allSatisfy { Base64URL.decode($0)?.count == 32 })
        #expect(SecureRandom.bytes(count: 1000).count == 1000)
    }

    @Test("PKCEPair pairs a verifier with its S256 challenge")
    func pkcePair() {
        let pair = PKCEPair.generate(length: 50)
        #expect(pair.challenge == CodeChallenge.s256(of: pair.verifier))
        #expect(pair.method == .s256)
    }
}
