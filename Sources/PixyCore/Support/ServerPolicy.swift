/// The settings OAuth decisions depend on; built once from configuration.
public struct ServerPolicy: Sendable {
    /// The issuer identifier (RFC 8414 §2): configuration, never derived from request headers
    /// (SECURITY.md §6).
    public var issuer: String
    /// Authorization code lifetime; at most ``maximumCodeLifetime``.
    public var codeLifetime: Duration
    /// Access token lifetime.
    public var accessTokenLifetime: Duration
    /// `scopes_supported`, in the operator's order.
    public var scopesSupported: Scope
    /// The scope granted when a request names none and the client registered none.
    public var defaultScope: Scope
    /// How long an unfinished login/consent transaction stays valid.
    public var interactionLifetime: Duration
    /// How long a browser login lasts.
    public var sessionLifetime: Duration

    /// RFC 6749 §4.1.2 recommends a maximum lifetime of 10 minutes.
    public static let maximumCodeLifetime: Duration = .seconds(600)

    /// Creates a policy; the code lifetime is capped at 600 s.
    public init(issuer: String, codeLifetime: Duration = .seconds(60), accessTokenLifetime: Duration = .seconds(3600),
                scopesSupported: Scope = Scope(validatedTokens: ["read", "write"]), defaultScope: Scope = .empty,
                interactionLifetime: Duration = .seconds(600), sessionLifetime: Duration = .seconds(8 * 3600)) {
        self.issuer = issuer
        self.codeLifetime = min(codeLifetime, Self.maximumCodeLifetime)
        self.accessTokenLifetime = accessTokenLifetime
        self.scopesSupported = scopesSupported
        self.defaultScope = defaultScope
        self.interactionLifetime = interactionLifetime
        self.sessionLifetime = sessionLifetime
    }
}
