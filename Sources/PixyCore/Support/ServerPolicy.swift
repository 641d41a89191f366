/// The settings OAuth decisions depend on; built once from configuration.
public struct ServerPolicy: Sendable {
    /// The issuer identifier (RFC 8414 §2): configuration, never derived from request headers
    /// (docs/security.md §6).
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
    /// Absolute lifetime of a refresh-token family.
    public var refreshTokenLifetime: Duration
    /// A family unused this long dies.
    public var refreshTokenIdleLifetime: Duration
    /// Whether confidential clients' refresh tokens rotate too (public clients' always do, docs/security.md §5).
    public var rotatesConfidentialRefreshTokens: Bool
    /// Whether https URLs are accepted as client ids (Client ID Metadata Documents).
    public var acceptsClientMetadataDocuments = false
    /// How long after a rotation the previous refresh token still returns the newest one (a lost
    /// response or a client racing itself); after it, the previous token is reuse and revokes the
    /// family (``RefreshTokenFamily``).
    public var refreshTokenRetryWindow: Duration = Defaults.refreshTokenRetryWindow
    /// Longest `state` accepted at `/authorize`: it is stored with the pending request and echoed.
    public var maximumStateLength = 1024
    /// Authorization requests one browser session may have waiting for login or consent at once.
    public var maximumPendingAuthorizationsPerSession = 16
    /// The identity providers users may sign in through (docs/federation.md), in the login
    /// page's order.
    public var upstreamProviders: [UpstreamProvider] = []
    /// Whether the login page offers the password form of Pixy's own users.
    public var allowsPasswordLogin = true

    /// RFC 6749 §4.1.2 recommends a maximum lifetime of 10 minutes.
    public static let maximumCodeLifetime: Duration = .seconds(600)

    /// The defaults, kept here once: ``ServerPolicy``, PixyServer's `Configuration` and the
    /// command line all start from these.
    public enum Defaults {
        /// Authorization codes: one minute (RFC 6749 §4.1.2 allows ten).
        public static let codeLifetime: Duration = .seconds(60)
        /// Access tokens: 15 minutes, since a resource server that validates JWTs locally sees
        /// a revocation only when the token expires.
        public static let accessTokenLifetime: Duration = .seconds(900)
        /// `scopes_supported` when the operator names none.
        public static let scopes = Scope(validatedTokens: ["read", "write"])
        /// An unfinished login or consent: ten minutes.
        public static let interactionLifetime: Duration = .seconds(600)
        /// A signed-in browser: eight hours.
        public static let sessionLifetime: Duration = .seconds(8 * 3600)
        /// A refresh-token family at most: 90 days.
        public static let refreshTokenLifetime: Duration = .seconds(90 * 86400)
        /// A refresh-token family unused this long dies: 30 days.
        public static let refreshTokenIdleLifetime: Duration = .seconds(30 * 86400)
        /// Retrying the previous refresh token after a rotation: 60 seconds.
        public static let refreshTokenRetryWindow: Duration = .seconds(60)
    }

    /// Creates a policy; the code lifetime is capped at 600 s.
    ///
    /// Access tokens default to 15 minutes: resource servers that validate JWTs locally see a
    /// revocation only when the token expires, and refresh tokens make short lives painless.
    /// Refresh families live 90 days at most and die after 30 days unused, so MCP clients stay
    /// connected for weeks without a new login.
    public init(
        issuer: String, codeLifetime: Duration = Defaults.codeLifetime, accessTokenLifetime: Duration = Defaults.accessTokenLifetime,
        scopesSupported: Scope = Defaults.scopes, defaultScope: Scope? = nil,
        interactionLifetime: Duration = Defaults.interactionLifetime, sessionLifetime: Duration = Defaults.sessionLifetime,
        refreshTokenLifetime: Duration = Defaults.refreshTokenLifetime,
        refreshTokenIdleLifetime: Duration = Defaults.refreshTokenIdleLifetime,
        rotatesConfidentialRefreshTokens: Bool = true
    ) {
        self.issuer = issuer
        self.codeLifetime = min(codeLifetime, Self.maximumCodeLifetime)
        self.accessTokenLifetime = accessTokenLifetime
        self.scopesSupported = scopesSupported
        // RFC 6749 §3.3: without an explicit default, the first supported scope (operators list
        // the least privileged first); an explicitly empty default refuses scope-less requests.
        self.defaultScope = defaultScope ?? scopesSupported.tokens.first.map { Scope(validatedTokens: [$0]) } ?? .empty
        self.interactionLifetime = interactionLifetime
        self.sessionLifetime = sessionLifetime
        self.refreshTokenLifetime = refreshTokenLifetime
        self.refreshTokenIdleLifetime = min(refreshTokenIdleLifetime, refreshTokenLifetime)
        self.rotatesConfidentialRefreshTokens = rotatesConfidentialRefreshTokens
    }

    /// Whether a grant for `client` with `scope` gets a refresh token: the client registered the
    /// refresh_token grant, and, when `offline_access` is a supported scope, the user granted it.
    public func issuesRefreshToken(to client: Client, scope: Scope) -> Bool {
        guard client.grantTypes.contains(.refreshToken) else { return false }
        return !scopesSupported.tokens.contains("offline_access") || scope.tokens.contains("offline_access")
    }
}
