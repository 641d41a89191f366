/// A set of scope tokens (RFC 6749 §3.3), kept in the order first given so that responses and
/// consent pages list them as the client asked.
public struct Scope: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The distinct scope tokens, in order.
    public let tokens: [String]

    /// The empty scope.
    public static let empty = Scope(validatedTokens: [])

    /// Parses a space-delimited scope string.
    ///
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 §3.3), checked byte by byte.
    /// Repeated tokens are folded into one. Returns `nil` for an illegal byte or an empty token
    /// between two spaces.
    public init?(parsing string: String) {
        var tokens: [String] = []
        var seen = Set<String>()
        if string.isEmpty {
            self.tokens = []
            return
        }
        for part in string.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.allSatisfy(Scope.isTokenByte) else { return nil }
            let token = String(decoding: part, as: UTF8.self)
            if seen.insert(token).inserted { tokens.append(token) }
        }
        self.tokens = tokens
    }

    /// A scope from tokens already known to be valid.
    public init(validatedTokens tokens: [String]) {
        var seen = Set<String>()
        self.tokens = tokens.filter { seen.insert($0).inserted }
    }

    /// `%x21 / %x23-5B / %x5D-7E`.
    public static func isTokenByte(_ byte: UInt8) -> Bool {
        byte == 0x21 || (0x23...0x5B).contains(byte) || (0x5D...0x7E).contains(byte)
    }

    /// Whether no token is present.
    public var isEmpty: Bool { tokens.isEmpty }

    /// Whether every token of `self` is in `other`.
    public func isSubset(of other: Scope) -> Bool {
        let set = Set(other.tokens)
        return tokens.allSatisfy(set.contains)
    }

    /// The tokens of `self` not in `allowed`.
    public func tokens(notIn allowed: Scope) -> [String] {
        let set = Set(allowed.tokens)
        return tokens.filter { !set.contains($0) }
    }

    /// The wire form: tokens joined by one space.
    public var description: String { tokens.joined(separator: " ") }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let scope = Scope(parsing: raw) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "invalid scope")
        }
        self = scope
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
