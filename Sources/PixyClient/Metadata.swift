public import Foundation

/// Protected Resource Metadata (RFC 9728 §2), the fields a client uses.
public struct ProtectedResourceMetadata: Sendable {
    /// `resource`: the resource identifier; must equal the URL the client asked about (§3.3).
    public var resource: String?
    /// `authorization_servers`: issuer identifiers.
    public var authorizationServers: [String]
    /// `scopes_supported`.
    public var scopesSupported: [String]?
    /// The whole document, for checks on fields not modelled here.
    public var json: [String: any Sendable]

    /// Reads a metadata document; nil when the body is not a JSON object.
    public init?(json body: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return nil }
        json = object.mapValues { SendableJSON.wrap($0) }
        resource = object["resource"] as? String
        authorizationServers = object["authorization_servers"] as? [String] ?? []
        scopesSupported = object["scopes_supported"] as? [String]
    }
}

/// Authorization Server Metadata (RFC 8414 §2, and the OpenID Connect Discovery names).
public struct AuthorizationServerMetadata: Sendable {
    /// `issuer`: must equal the issuer the client looked up (RFC 8414 §3.3).
    public var issuer: String?
    /// `authorization_endpoint`.
    public var authorizationEndpoint: URL?
    /// `token_endpoint`.
    public var tokenEndpoint: URL?
    /// `registration_endpoint` (RFC 7591).
    public var registrationEndpoint: URL?
    /// `revocation_endpoint` (RFC 7009).
    public var revocationEndpoint: URL?
    /// `code_challenge_methods_supported` (RFC 7636 §4.3 via RFC 8414).
    public var codeChallengeMethodsSupported: [String]
    /// `token_endpoint_auth_methods_supported`; RFC 8414 §2 says absent means `client_secret_basic`.
    public var tokenEndpointAuthMethodsSupported: [String]
    /// `grant_types_supported`; absent means `authorization_code` and `implicit` (RFC 8414 §2).
    public var grantTypesSupported: [String]
    /// `scopes_supported`.
    public var scopesSupported: [String]?
    /// `client_id_metadata_document_supported` (OAuth Client ID Metadata Document).
    public var clientIDMetadataDocumentSupported: Bool
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3).
    public var issParameterSupported: Bool

    /// Reads a metadata document; nil when the body is not a JSON object.
    public init?(json body: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return nil }
        func url(_ name: String) -> URL? { (object[name] as? String).flatMap(URL.init(string:)) }
        issuer = object["issuer"] as? String
        authorizationEndpoint = url("authorization_endpoint")
        tokenEndpoint = url("token_endpoint")
        registrationEndpoint = url("registration_endpoint")
        revocationEndpoint = url("revocation_endpoint")
        codeChallengeMethodsSupported = object["code_challenge_methods_supported"] as? [String] ?? []
        tokenEndpointAuthMethodsSupported = object["token_endpoint_auth_methods_supported"] as? [String] ?? ["client_secret_basic"]
        grantTypesSupported = object["grant_types_supported"] as? [String] ?? ["authorization_code", "implicit"]
        scopesSupported = object["scopes_supported"] as? [String]
        clientIDMetadataDocumentSupported = object["client_id_metadata_document_supported"] as? Bool ?? false
        issParameterSupported = object["authorization_response_iss_parameter_supported"] as? Bool ?? false
    }

    /// Metadata for a server that publishes none, from endpoints the user names.
    public init(issuer: String?, authorizationEndpoint: URL, tokenEndpoint: URL) {
        self.issuer = issuer
        self.authorizationEndpoint = authorizationEndpoint
        self.tokenEndpoint = tokenEndpoint
        codeChallengeMethodsSupported = []
        tokenEndpointAuthMethodsSupported = ["client_secret_basic"]
        grantTypesSupported = ["authorization_code"]
        clientIDMetadataDocumentSupported = false
        issParameterSupported = false
    }
}

/// JSON values carried across concurrency domains.
enum SendableJSON {
    static func wrap(_ value: Any) -> any Sendable {
        switch value {
        case let string as String: string
        case let number as NSNumber: number.description
        case let array as [Any]: array.map(wrap)
        case let object as [String: Any]: object.mapValues(wrap)
        default: String(describing: value)
        }
    }
}

/// Where metadata lives (RFC 8414 §3.1, RFC 9728 §3.1, and the MCP authorization order).
public enum WellKnown {
    /// Protected Resource Metadata for a resource: the path-inserted form first, then the root
    /// (RFC 9728 §3.1: `/.well-known/oauth-protected-resource` goes between host and path).
    public static func protectedResourceMetadataURLs(for resource: URL) -> [URL] {
        inserted("oauth-protected-resource", into: resource)
    }

    /// Authorization server metadata for an issuer, in the order MCP clients try: RFC 8414
    /// path-inserted, then OpenID Connect path-inserted, then OpenID Connect path-appended; an
    /// issuer without a path has the two root forms.
    public static func authorizationServerMetadataURLs(for issuer: URL) -> [URL] {
        let path = trimmedPath(issuer)
        guard !path.isEmpty else {
            return [root(issuer, "/.well-known/oauth-authorization-server"), root(issuer, "/.well-known/openid-configuration")]
        }
        return [
            root(issuer, "/.well-known/oauth-authorization-server" + path),
            root(issuer, "/.well-known/openid-configuration" + path),
            root(issuer, path + "/.well-known/openid-configuration"),
        ]
    }

    private static func inserted(_ name: String, into url: URL) -> [URL] {
        let path = trimmedPath(url)
        if path.isEmpty { return [root(url, "/.well-known/" + name)] }
        return [root(url, "/.well-known/\(name)\(path)"), root(url, "/.well-known/" + name)]
    }

    private static func trimmedPath(_ url: URL) -> String {
        var path = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? ""
        while path.hasSuffix("/") { path.removeLast() }
        return path
    }

    private static func root(_ url: URL, _ path: String) -> URL {
        var components = URLComponents()
        components.scheme = url.scheme
        components.host = url.host
        components.port = url.port
        components.percentEncodedPath = path
        return components.url!
    }
}
