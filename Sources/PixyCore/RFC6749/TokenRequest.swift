/// The parameters of a token request (RFC 6749 §4.1.3 and §6, RFC 7636 §4.5, RFC 8707 §2.2),
/// read once from the form. Each is as sent; the token endpoint validates them in the order the
/// RFCs give, after the client has authenticated.
public struct TokenRequest: ClientAuthenticatedBody, Equatable {
    /// `grant_type`.
    public var grantType: String?
    /// `code` (authorization code grant).
    public var code: String?
    /// `code_verifier` (RFC 7636 §4.5).
    public var codeVerifier: String?
    /// `redirect_uri`, when the client repeats it.
    public var redirectURI: String?
    /// `resource` (RFC 8707 §2.2).
    public var resource: String?
    /// `refresh_token` (refresh grant).
    public var refreshToken: String?
    /// `scope` (refresh grant: a narrower scope, RFC 6749 §6).
    public var scope: String?

    /// Creates a request.
    public init(
        grantType: String? = nil, code: String? = nil, codeVerifier: String? = nil, redirectURI: String? = nil,
        resource: String? = nil, refreshToken: String? = nil, scope: String? = nil
    ) {
        self.grantType = grantType
        self.code = code
        self.codeVerifier = codeVerifier
        self.redirectURI = redirectURI
        self.resource = resource
        self.refreshToken = refreshToken
        self.scope = scope
    }

    /// Reads the token request's parameters from the form.
    public init(form: FormParameters) {
        self.init(
            grantType: form.values("grant_type").first, code: form.values("code").first,
            codeVerifier: form.values("code_verifier").first, redirectURI: form.values("redirect_uri").first,
            resource: form.values("resource").first, refreshToken: form.values("refresh_token").first,
            scope: form.values("scope").first)
    }
}
