public import Foundation

/// What a protected resource (an MCP server, an API) says about itself and how it checks tokens.
public struct ProtectedResource: Sendable {
    /// The resource's canonical URI (RFC 8707, RFC 9728 §2 `resource`), e.g.
    /// `https://mcp.example.com/mcp`. Tokens must carry it as `aud`.
    public var resource: String
    /// The authorization server's issuer, e.g. `https://auth.example.com` (RFC 9728
    /// `authorization_servers`; RFC 8414 metadata is read from it).
    public var issuer: String
    /// Scopes this resource understands (`scopes_supported`), in the order clients see them.
    public var scopesSupported: [String]
    /// A human-readable name (`resource_name`).
    public var resourceName: String?
    /// Clock tolerance for `exp` and `nbf`, for servers whose clocks drift apart a little.
    public var clockSkew: Duration = .seconds(30)
    /// At most one JWKS refetch per interval when a token names an unknown `kid` (key rotation),
    /// so a flood of forged `kid`s cannot make this server hammer the issuer.
    public var keyRefetchInterval: Duration = .seconds(60)
    /// How tokens are checked.
    public var verification: Verification = .jwt

    /// How access tokens are checked.
    public enum Verification: Sendable {
        /// Locally, as RFC 9068 JWTs against the issuer's JWKS: fast, but a revoked token is
        /// accepted until it expires.
        case jwt
        /// By asking the issuer's RFC 7662 introspection endpoint on every request, with these
        /// confidential client credentials (client_secret_basic): sees revocation at once.
        case introspection(clientID: String, clientSecret: String)
    }

    /// Describes a resource protected by `issuer`.
    public init(resource: String, issuer: String, scopesSupported: [String], resourceName: String? = nil) {
        self.resource = resource
        self.issuer = issuer
        self.scopesSupported = scopesSupported
        self.resourceName = resourceName
    }

    /// The RFC 9728 §3.1 metadata URL: `/.well-known/oauth-protected-resource` inserted between
    /// the resource's host and its path.
    public var metadataURL: String {
        guard let components = URLComponents(string: resource), let scheme = components.scheme, let host = components.host else {
            return resource
        }
        let port = components.port.map { ":\($0)" } ?? ""
        let path = components.path == "/" ? "" : components.path
        return "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)\(port)/.well-known/oauth-protected-resource\(path)"
    }

    /// The path part of ``metadataURL``, where the metadata route is served.
    public var metadataPath: String {
        URLComponents(string: metadataURL)?.path ?? "/.well-known/oauth-protected-resource"
    }

    /// The RFC 9728 §2 document.
    public var metadataDocument: ProtectedResourceMetadata {
        ProtectedResourceMetadata(
            resource: resource, authorizationServers: [issuer], scopesSupported: scopesSupported,
            bearerMethodsSupported: ["header"], resourceName: resourceName)
    }
}

/// RFC 9728 §2 Protected Resource Metadata.
public struct ProtectedResourceMetadata: Sendable, Codable, Equatable {
    /// The resource identifier; clients check it equals the URL they discovered it for.
    public var resource: String
    /// Issuers that may issue tokens for this resource.
    public var authorizationServers: [String]
    /// Scopes the resource understands.
    public var scopesSupported: [String]
    /// Only `header`: tokens in a query string end up in logs and referrers (RFC 6750 §2.3,
    /// OAuth 2.1 §5.2).
    public var bearerMethodsSupported: [String]
    /// A human-readable name.
    public var resourceName: String?

    enum CodingKeys: String, CodingKey {
        case resource
        case authorizationServers = "authorization_servers"
        case scopesSupported = "scopes_supported"
        case bearerMethodsSupported = "bearer_methods_supported"
        case resourceName = "resource_name"
    }
}
