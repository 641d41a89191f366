/// A PKCE code verifier (RFC 7636 §4.1): 43 to 128 characters from the unreserved set
/// `A-Z a-z 0-9 - . _ ~`.
///
/// Validation is byte by byte on the decoded value, never with Unicode character classes, so a
/// trailing newline, a NUL or a look-alike code point is refused.
public struct CodeVerifier: Sendable, Hashable {
    /// The verifier's characters exactly as sent.
    public let value: String

    /// The shortest verifier RFC 7636 §4.1 allows.
    public static let minimumLength = 43
    /// The longest verifier RFC 7636 §4.1 allows.
    public static let maximumLength = 128
    /// The length Pixy uses for freshly generated verifiers (RFC 7636 §4.1 allows 43–128).
    public static let defaultLength = 64

    /// Creates a verifier from a wire value, or `nil` when it breaks RFC 7636 §4.1.
    public init?(_ value: String) {
        guard Self.isValid(value) else { return nil }
        self.value = value
    }

    /// Whether `value` is 43–128 bytes, each from the unreserved set.
    public static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (minimumLength...maximumLength).contains(bytes.count) else { return false }
        return bytes.allSatisfy(isUnreserved)
    }

    /// `ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 7636 §4.1, RFC 3986 §2.3).
    @inlinable
    public static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// The characters a generated verifier is drawn from.
    public enum Alphabet: Sendable, CaseIterable {
        /// `[A-Za-z0-9]`: 64 alphanumeric characters, a subset of RFC 7636 §4.1's unreserved set.
        case alphanumeric
        /// The full unreserved set RFC 7636 §4.1 allows, `[A-Za-z0-9-._~]`.
        case unreserved

        var characters: [UInt8] {
            let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
            switch self {
            case .alphanumeric: return alphanumerics
            case .unreserved: return alphanumerics + Array("-._~".utf8)
            }
        }
    }

    /// Generates a fresh verifier from the kernel CSPRNG.
    ///
    /// Uses rejection sampling: a random byte is kept only when it falls below the largest
    /// multiple of the alphabet size, so every character is exactly equally likely (a plain
    /// `byte % 62` would favour the first eight characters). RFC 7636 §7.1 asks for enough entropy
    /// that the verifier cannot be guessed; 64 alphanumeric characters carry ~381 bits.
    /// - Precondition: `length` is within 43...128.
    public static func generate(length: Int = defaultLength, alphabet: Alphabet = .alphanumeric) -> CodeVerifier {
        precondition((minimumLength...maximumLength).contains(length), "RFC 7636 §4.1: a verifier has 43 to 128 characters")
        let characters = alphabet.characters
        let limit = 256 - 256 % characters.count
        var output = [UInt8]()
        output.reserveCapacity(length)
        while output.count < length {
            for byte in SecureRandom.bytes(count: length * 2) where Int(byte) < limit {
                output.append(characters[Int(byte) % characters.count])
                if output.count == length { break }
            }
        }
        return CodeVerifier(String(decoding: output, as: UTF8.self))!
    }

    /// The S256 challenge for this verifier (RFC 7636 §4.2).
    public var challenge: CodeChallenge { CodeChallenge.s256(of: self) }
}
