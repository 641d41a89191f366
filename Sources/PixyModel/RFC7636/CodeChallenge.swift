public import Crypto

/// A PKCE code challenge with method S256: `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
///
/// Pixy supports only S256. `plain` would send the verifier itself through the front channel,
/// which is exactly what PKCE exists to avoid (RFC 7636 §7.2; OAuth 2.1 §7.5.2).
public struct CodeChallenge: Sendable, Hashable, Codable {
    /// The 43 base64url characters.
    public let value: String

    /// The encoded length of a SHA-256 digest without padding.
    public static let length = 43

    /// Creates a challenge from a wire value, or `nil` unless it is exactly 43 base64url characters
    /// that canonically encode 32 bytes.
    public init?(_ value: String) {
        guard value.utf8.count == Self.length, value.utf8.allSatisfy(Base64URL.isAlphabetByte),
            Base64URL.decode(value)?.count == 32
        else { return nil }
        self.value = value
    }

    private init(trusted value: String) {
        self.value = value
    }

    /// The S256 challenge of `verifier`.
    public static func s256(of verifier: CodeVerifier) -> CodeChallenge {
        CodeChallenge(trusted: Base64URL.encode(SHA256.hash(data: Array(verifier.value.utf8))))
    }

    /// Whether `verifier` hashes to this challenge (RFC 7636 §4.6), compared in constant time.
    public func isSatisfied(by verifier: CodeVerifier) -> Bool {
        ConstantTime.isEqual(Array(Self.s256(of: verifier).value.utf8), Array(value.utf8))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let challenge = CodeChallenge(raw) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an S256 code challenge")
        }
        self = challenge
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// The code challenge methods Pixy accepts. Only S256 exists, on purpose; the comparison with the
/// wire value is case-sensitive (RFC 7636 §4.3 defines the value `S256`).
public enum CodeChallengeMethod: String, Sendable, Codable, CaseIterable {
    /// SHA-256 (RFC 7636 §4.2).
    case s256 = "S256"
}

/// A verifier and its challenge, as a client creates them before `GET /authorize`.
public struct PKCEPair: Sendable, Hashable {
    /// The secret the client keeps until `POST /token`.
    public let verifier: CodeVerifier
    /// What the client sends to `/authorize`.
    public let challenge: CodeChallenge
    /// Always S256.
    public var method: CodeChallengeMethod { .s256 }

    /// A fresh pair; see ``CodeVerifier/generate(length:alphabet:)``.
    public static func generate(length: Int = CodeVerifier.defaultLength, alphabet: CodeVerifier.Alphabet = .alphanumeric) -> PKCEPair {
        let verifier = CodeVerifier.generate(length: length, alphabet: alphabet)
        return PKCEPair(verifier: verifier, challenge: verifier.challenge)
    }

    /// Pairs an existing verifier with its S256 challenge.
    public init(verifier: CodeVerifier) {
        self.init(verifier: verifier, challenge: verifier.challenge)
    }

    private init(verifier: CodeVerifier, challenge: CodeChallenge) {
        self.verifier = verifier
        self.challenge = challenge
    }
}
