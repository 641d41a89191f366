/// Authorization server metadata (RFC 8414 §2), served at
/// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
public struct ServerMetadata: Sendable, Encodable, Equatable {
    public var issuer: String
    public var authorizationEndpoint: String
    public var tokenEndpoint: String
    public var registrationEndpoint: String
    /// RFC 8414 §2 / RFC 7009.
    public var revocationEndpoint: String
    /// RFC 8414 §2 / RFC 7662.
    public var introspectionEndpoint: String
    public var revocationEndpointAuthMethodsSupported = ClientAuthenticationMethod.allCases.map(\.rawValue)
    /// Introspection callers are confidential clients (resource servers).
    public var introspectionEndpointAuthMethodsSupported = [ClientAuthenticationMethod.clientSecretBasic, .clientSecretPost].map(\.rawValue)
    public var jwksURI: String
    public var scopesSupported: [String]
    public var responseTypesSupported = ["code"]
    public var responseModesSupported = ["query"]
    public var grantTypesSupported: [String]
    public var tokenEndpointAuthMethodsSupported = ClientAuthenticationMethod.allCases.map(\.rawValue)
    /// MCP clients refuse metadata without this (docs/security.md §6).
    public var codeChallengeMethodsSupported = ["S256"]
    /// RFC 9207 §3.
    public var authorizationResponseIssParameterSupported = true
    /// Client ID Metadata Documents (MCP 2025-11-25): `true` when a fetcher is configured.
    public var clientIDMetadataDocumentSupported: Bool
    public var promptValuesSupported = AuthorizationRequest.Prompt.allCases.map(\.rawValue)

    enum CodingKeys: String, CodingKey {
        case issuer
        case authorizationEndpoint = "authorization_endpoint"
        case tokenEndpoint = "token_endpoint"
        case registrationEndpoint = "registration_endpoint"
        case revocationEndpoint = "revocation_endpoint"
        case introspectionEndpoint = "introspection_endpoint"
        case revocationEndpointAuthMethodsSupported = "revocation_endpoint_auth_methods_supported"
        case introspectionEndpointAuthMethodsSupported = "introspection_endpoint_auth_methods_supported"
        case jwksURI = "jwks_uri"
        case scopesSupported = "scopes_supported"
        case responseTypesSupported = "response_types_supported"
        case responseModesSupported = "response_modes_supported"
        case grantTypesSupported = "grant_types_supported"
        case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
        case codeChallengeMethodsSupported = "code_challenge_methods_supported"
        case authorizationResponseIssParameterSupported = "authorization_response_iss_parameter_supported"
        case clientIDMetadataDocumentSupported = "client_id_metadata_document_supported"
        case promptValuesSupported = "prompt_values_supported"
    }

    /// Metadata for `policy`: every endpoint is the issuer plus a fixed path.
    public init(policy: ServerPolicy) {
        let base = policy.issuer.hasSuffix("/") ? String(policy.issuer.dropLast()) : policy.issuer
        issuer = policy.issuer
        authorizationEndpoint = base + "/authorize"
        tokenEndpoint = base + "/token"
        registrationEndpoint = base + "/register"
        revocationEndpoint = base + "/revoke"
        introspectionEndpoint = base + "/introspect"
        jwksURI = base + "/jwks.json"
        scopesSupported = policy.scopesSupported.tokens
        grantTypesSupported = GrantType.allCases.map(\.rawValue)
        clientIDMetadataDocumentSupported = policy.acceptsClientMetadataDocuments
    }
}
