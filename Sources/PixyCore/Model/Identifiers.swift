/// A client identifier (RFC 6749 §2.2): an opaque string chosen by the server or the operator.
public struct ClientID: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    /// Wraps a raw client id.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Wraps a raw client id.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2, `token_endpoint_auth_method`).
public enum ClientAuthenticationMethod: String, Sendable, Codable, CaseIterable {
    /// A public client: no secret, PKCE carries the proof (RFC 7591 §2).
    case none
    /// HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1).
    case clientSecretBasic = "client_secret_basic"
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    case clientSecretPost = "client_secret_post"

    /// Whether the client holds a secret.
    public var isConfidential: Bool { self != .none }
}

/// Grant types Pixy knows (RFC 6749, RFC 7591 §2).
public enum GrantType: String, Sendable, Codable, CaseIterable {
    /// RFC 6749 §4.1 with PKCE.
    case authorizationCode = "authorization_code"
    /// RFC 6749 §6.
    case refreshToken = "refresh_token"
}
