/// One JSON value of a token's or a userinfo response's claims (RFC 7519 §4; OpenID Connect
/// Core §5.1). Upstream providers send claims of any shape; the rules that read them
/// (``IDTokenValidation``, ``UpstreamAccessRule``) ask for the shape they need.
public enum ClaimValue: Sendable, Equatable, Codable {
    /// A JSON string.
    case string(String)
    /// A JSON number.
    case number(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// A JSON array.
    case array([ClaimValue])
    /// A JSON object.
    case object([String: ClaimValue])
    /// `null`.
    case null

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ClaimValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ClaimValue].self))
        }
    }

    /// Encodes the value as the JSON it came from.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// The value when it is a string.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an identifier: a string as is, a whole number in decimal (GitHub's user
    /// `id` is a number). Anything else is no identifier.
    public var identifier: String? {
        switch self {
        case .string(let value): return value
        case .number(let value) where value.rounded() == value && abs(value) < 9_007_199_254_740_992:
            return String(Int64(value))
        default: return nil
        }
    }

    /// Whether the claim holds `text`: equals it, or (for an array, such as `groups`) contains it.
    public func holds(_ text: String) -> Bool {
        switch self {
        case .string(let value): return value == text
        case .bool(let value): return String(value) == text
        case .number: return identifier == text
        case .array(let values): return values.contains { $0.holds(text) }
        case .object, .null: return false
        }
    }
}

/// A JSON object of claims, by name.
public typealias Claims = [String: ClaimValue]
