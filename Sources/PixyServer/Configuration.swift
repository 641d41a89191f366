public import PixyCore
import PixyRESP
import PixyHTTP
import Foundation

/// Everything `pixy serve` can be told, from flags or `PIXY_*` environment variables.
public struct Configuration: Sendable {
    /// The issuer URL (RFC 8414 §2). Loopback may be http; anything else must be https.
    public var issuer: String
    /// The address to bind.
    public var host: String
    /// The port to bind.
    public var port: Int
    /// Where the SQLite file lives.
    public var dataDirectory: String
    /// Which backend holds durable state (clients, users, keys, grants, consents, revocations).
    public var store: StoreKind
    /// Which backend holds short-lived state (codes, sessions, pending sign-ins, counters);
    /// `nil`: the durable store (docs/operations.md, Stores).
    public var ephemeralStore: EphemeralStoreKind?
    /// Authorization code lifetime (default 60 s, at most 600 s).
    public var codeLifetime: Duration
    /// Access token lifetime (default 15 minutes).
    public var accessTokenLifetime: Duration
    /// Absolute refresh-token family lifetime (default 90 days).
    public var refreshTokenLifetime: Duration
    /// Idle refresh-token family lifetime (default 30 days).
    public var refreshTokenIdleLifetime: Duration
    /// `scopes_supported`, in the order clients see them.
    public var scopes: Scope
    /// The scope granted when a request names none and the client registered none.
    /// `nil` means the first of ``scopes`` (the operator lists the least privileged first);
    /// an empty scope means none, so a request without `scope` is refused with `invalid_scope`.
    public var defaultScope: Scope?
    /// bcrypt cost for user passwords.
    public var passwordHashCost: UInt8
    /// How often a running server re-reads its signing keys (picks up `pixy keys rotate`).
    public var keyReloadInterval: Duration = .seconds(30)
    /// Whether https URLs are accepted as client ids (Client ID Metadata Documents).
    public var acceptsClientMetadataDocuments = true
    /// Hosts whose metadata documents may be fetched even though they resolve to private or
    /// loopback addresses (tests, clients inside your network).
    public var metadataDocumentAllowedHosts: Set<String> = []
    /// A PEM file of CA certificates trusted for metadata fetches in addition to the system's.
    public var metadataDocumentTrustedCAFile: String?
    /// New-client registrations one source may make at once (identical re-registrations are free).
    public var registrationBurst = OAuthServer.Limits.Defaults.registrationBurst
    /// New-client registrations one source regains per minute.
    public var registrationsPerMinute = OAuthServer.Limits.Defaults.registrationsPerMinute
    /// Authorization requests (`GET /authorize`) one source may make at once.
    public var authorizationBurst = OAuthServer.Limits.Defaults.authorizationBurst
    /// Authorization requests one source regains per minute.
    public var authorizationsPerMinute = OAuthServer.Limits.Defaults.authorizationsPerMinute
    /// Reverse proxies trusted to name the client in `X-Forwarded-For` (CIDR ranges).
    public var trustedProxies: [String] = []
    /// How long a signed-in browser session lasts (default 8 hours).
    public var sessionLifetime: Duration = ServerPolicy.Defaults.sessionLifetime
    /// Timeouts and caps on connections (``ConnectionLimits``).
    public var connectionLimits = ConnectionLimits()
    /// How long after a rotation the previous refresh token may still be retried (default 60 s).
    public var refreshTokenRetryWindow: Duration = ServerPolicy.Defaults.refreshTokenRetryWindow

    /// Identity providers users may sign in through (``Configuration/loadUpstreams(from:environment:)``).
    public var upstreamProviders: [UpstreamProvider] = []
    /// Whether Pixy's own users may sign in with a password (default yes).
    public var allowsPasswordLogin = true
    /// A PEM file of CA certificates trusted for upstream providers, besides the system's.
    public var upstreamTrustedCAFile: String?

    /// The operator's name at the top of every page (default "Pixy").
    public var brandName = "Pixy"
    /// The operator's logo: an https URL or a base64 `data:image/png` / `data:image/svg+xml` URI
    /// (``PageBranding/isAcceptableLogo(_:)``); the page CSP then admits exactly its source.
    public var brandLogo: String?
    /// Text the consent page shows beside each scope token; every key must be in ``scopes``.
    public var scopeDescriptions: [String: String] = [:]

    /// The Redis URL when ``store`` is ``StoreKind/redis``: `redis://[user:pass@]host:port/db`,
    /// or `rediss://` for TLS.
    public var redisURL: String?
    /// Prepended to every Redis key, so several deployments can share one Redis (default none).
    public var redisKeyPrefix = ""
    /// PEM CA certificates to trust for `rediss://` instead of the system's.
    public var redisTrustedCAFile: String?
    /// The PostgreSQL URL when ``store`` is ``StoreKind/postgres``:
    /// `postgres://user:password@host:port/database?sslmode=…`.
    public var postgresURL: String?
    /// The URL of the ephemeral store when it is a server: `redis://…`/`rediss://…` or
    /// `memcached://host:port[,host:port…]`.
    public var ephemeralStoreURL: String?
    /// Start even though Redis may evict keys (`maxmemory-policy` other than `noeviction`).
    /// Clients, refresh families or live codes could then vanish: for experiments only.
    public var allowsRedisEviction = false

    /// The port of the Prometheus listener (`GET /metrics`); `nil` (the default) serves no metrics.
    public var metricsPort: Int?
    /// The address the metrics listener binds (default loopback: metrics stay private unless the
    /// operator opens them).
    public var metricsHost = "127.0.0.1"

    /// Serve TLS directly with this certificate chain (PEM); with ``tlsKeyFile``.
    public var tlsCertificateFile: String?
    /// The TLS private key (PEM).
    public var tlsKeyFile: String?

    /// Storage backends.
    public enum StoreKind: String, Sendable, CaseIterable {
        /// One SQLite file in the data directory: durable, no setup (the default).
        case sqlite
        /// Process memory: nothing survives a restart. For tests and demos.
        case memory
        /// A Redis server many Pixy processes share (``Configuration/redisURL``).
        case redis
        /// A PostgreSQL database many Pixy processes share (``Configuration/postgresURL``).
        case postgres
    }

    /// Where short-lived state can live instead of the durable store.
    public enum EphemeralStoreKind: String, Sendable, CaseIterable {
        /// Process memory: one Pixy process only (a second would not know the first's codes).
        case memory
        /// A Redis server (``Configuration/ephemeralStoreURL``).
        case redis
        /// One or more memcached servers (``Configuration/ephemeralStoreURL``).
        case memcached
    }

    /// Sets the durable store from its command-line form: `sqlite`, `memory`, a `redis://` /
    /// `rediss://` URL, or a `postgres://` / `postgresql://` URL.
    public mutating func setStore(_ value: String) throws {
        if value.hasPrefix("redis://") || value.hasPrefix("rediss://") {
            store = .redis
            redisURL = value
        } else if value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") {
            store = .postgres
            postgresURL = value
        } else if let kind = StoreKind(rawValue: value), kind == .sqlite || kind == .memory {
            store = kind
        } else {
            throw Invalid(
                description:
                    "the store must be sqlite, memory, a redis:// or rediss:// URL, or a postgres:// URL (got \(Self.shown(value)))")
        }
    }

    /// A store setting as an error message may show it: a URL's scheme only, since the rest may
    /// hold a password.
    static func shown(_ value: String) -> String {
        if let separator = value.range(of: "://") { return String(value[..<separator.upperBound]) + "…" }
        return value.count > 40 ? String(value.prefix(40)) + "…" : value
    }

    /// Sets the ephemeral store from its command-line form: `memory`, a `redis://` / `rediss://`
    /// URL, or `memcached://host:port[,host:port…]`.
    public mutating func setEphemeralStore(_ value: String) throws {
        if value.hasPrefix("redis://") || value.hasPrefix("rediss://") {
            ephemeralStore = .redis
            ephemeralStoreURL = value
        } else if value.hasPrefix("memcached://") {
            ephemeralStore = .memcached
            ephemeralStoreURL = value
        } else if value == "memory" {
            ephemeralStore = .memory
            ephemeralStoreURL = nil
        } else {
            throw Invalid(
                description:
                    "the ephemeral store must be memory, a redis:// or rediss:// URL, or memcached://host:port[,host:port…] (got \(Self.shown(value)))"
            )
        }
    }

    /// A configuration with the documented defaults.
    public init(
        issuer: String = "http://127.0.0.1:8080", host: String = "127.0.0.1", port: Int = 8080,
        dataDirectory: String = "./pixy-data", store: StoreKind = .sqlite,
        codeLifetime: Duration = ServerPolicy.Defaults.codeLifetime,
        accessTokenLifetime: Duration = ServerPolicy.Defaults.accessTokenLifetime, scopes: Scope = ServerPolicy.Defaults.scopes,
        passwordHashCost: UInt8 = 12, refreshTokenLifetime: Duration = ServerPolicy.Defaults.refreshTokenLifetime,
        refreshTokenIdleLifetime: Duration = ServerPolicy.Defaults.refreshTokenIdleLifetime
    ) {
        self.issuer = issuer
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.store = store
        self.codeLifetime = codeLifetime
        self.accessTokenLifetime = accessTokenLifetime
        self.scopes = scopes
        self.passwordHashCost = passwordHashCost
        self.refreshTokenLifetime = refreshTokenLifetime
        self.refreshTokenIdleLifetime = refreshTokenIdleLifetime
    }

    /// A configuration problem, reported before anything starts.
    public struct Invalid: Error, CustomStringConvertible {
        /// What is wrong.
        public let description: String
    }

    /// Checks the rules the server relies on.
    public func validate() throws {
        guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
            throw Invalid(description: "issuer must be an absolute URL, e.g. https://auth.example.com (got \(issuer))")
        }
        // A trailing slash would put every endpoint at `…//token`, and clients compare the issuer
        // byte for byte (RFC 8414 §3.3, RFC 9207 §2.4), so it is refused rather than trimmed.
        guard !issuer.hasSuffix("/") else {
            throw Invalid(description: "issuer must not end with a slash: use \(issuer.dropLast()) (got \(issuer))")
        }
        // RFC 8414 §2: the issuer has no query or fragment.
        guard url.query == nil, url.fragment == nil, !issuer.contains("#"), !issuer.contains("?") else {
            throw Invalid(description: "issuer must not contain a query or fragment")
        }
        let isLoopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)
        guard scheme == "https" || (scheme == "http" && isLoopback) else {
            throw Invalid(description: "issuer must use https unless it is a loopback address (got \(issuer))")
        }
        guard codeLifetime > .zero, codeLifetime <= ServerPolicy.maximumCodeLifetime else {
            throw Invalid(description: "code lifetime must be between 1 and 600 seconds")
        }
        // As short as 5 s is allowed (tests force expiry and refresh with it); shorter would
        // expire tokens in flight.
        guard accessTokenLifetime >= .seconds(5), accessTokenLifetime <= .seconds(86400) else {
            throw Invalid(description: "access token lifetime must be between 5 and 86400 seconds")
        }
        guard (1...65535).contains(port) else { throw Invalid(description: "port must be 1-65535") }
        if let metricsPort {
            guard (1...65535).contains(metricsPort), metricsPort != port else {
                throw Invalid(description: "--metrics-port must be 1-65535 and differ from --port (got \(metricsPort))")
            }
        }
        guard policy.defaultScope.isSubset(of: scopes) else {
            throw Invalid(description: "the default scope must be among the supported scopes")
        }
        guard (tlsCertificateFile == nil) == (tlsKeyFile == nil) else {
            throw Invalid(description: "--tls-cert and --tls-key go together")
        }
        try validateStores()
        try validateUpstreams()
        for range in trustedProxies where AddressRange(range) == nil {
            throw Invalid(description: "--trusted-proxy must be an address or a CIDR range such as 10.0.0.0/8 (got \(range))")
        }
        guard connectionLimits.idleTimeout >= .seconds(1), connectionLimits.requestTimeout >= .seconds(1),
            (connectionLimits.maximumConnections ?? 1) >= 1
        else {
            throw Invalid(description: "connection timeouts must be at least 1 second and the connection cap at least 1")
        }
        guard sessionLifetime >= .seconds(60), sessionLifetime <= .seconds(30 * 86400) else {
            throw Invalid(description: "the session lifetime must be between 60 seconds and 30 days")
        }
        guard refreshTokenRetryWindow >= .zero, refreshTokenRetryWindow <= .seconds(3600) else {
            throw Invalid(description: "the refresh retry window must be between 0 and 3600 seconds")
        }
        guard refreshTokenLifetime >= .seconds(60), refreshTokenIdleLifetime >= .seconds(60),
            refreshTokenIdleLifetime <= refreshTokenLifetime
        else {
            throw Invalid(description: "refresh token lifetimes must be at least 60 seconds, idle no longer than absolute")
        }
        try validateBranding()
    }

    /// The page settings: a displayable brand name, an acceptable logo, and descriptions only of
    /// supported scopes (a description of a scope clients cannot ask for is a typo).
    func validateBranding() throws {
        guard PageBranding.isDisplayable(brandName, maximumLength: PageBranding.maximumNameLength) else {
            throw Invalid(description: "--brand-name must be 1-\(PageBranding.maximumNameLength) characters without control characters")
        }
        if let brandLogo, !PageBranding.isAcceptableLogo(brandLogo) {
            throw Invalid(
                description:
                    "--brand-logo must be an https URL or a data:image/png;base64, or data:image/svg+xml;base64, URI of at most 64 KiB")
        }
        let supported = Set(scopes.tokens)
        for (scope, text) in scopeDescriptions.sorted(by: { $0.key < $1.key }) {
            guard supported.contains(scope) else {
                throw Invalid(description: "--scope-description names \(scope), which is not in --scopes (\(scopes))")
            }
            guard PageBranding.isDisplayable(text, maximumLength: PageBranding.maximumDescriptionLength) else {
                throw Invalid(
                    description:
                        "--scope-description for \(scope) must be 1-\(PageBranding.maximumDescriptionLength) characters without control characters"
                )
            }
        }
    }

    /// The policy PixyCore decides with.
    public var policy: ServerPolicy {
        var policy = ServerPolicy(
            issuer: issuer, codeLifetime: codeLifetime, accessTokenLifetime: accessTokenLifetime, scopesSupported: scopes,
            defaultScope: defaultScope, refreshTokenLifetime: refreshTokenLifetime,
            refreshTokenIdleLifetime: refreshTokenIdleLifetime)
        policy.acceptsClientMetadataDocuments = acceptsClientMetadataDocuments
        policy.refreshTokenRetryWindow = refreshTokenRetryWindow
        policy.sessionLifetime = sessionLifetime
        policy.upstreamProviders = upstreamProviders
        policy.allowsPasswordLogin = allowsPasswordLogin
        return policy
    }

    /// What the pages show of the operator (``PageBranding``).
    var branding: PageBranding {
        PageBranding(name: brandName, logo: brandLogo, scopeDescriptions: scopeDescriptions)
    }

    /// The store for humans and logs: `sqlite`, `memory`, or the Redis URL without its password.
    public var storeDescription: String {
        let durable: String
        switch store {
        case .redis: durable = redisURL.flatMap(Self.describeRedis) ?? "redis"
        case .postgres: durable = postgresURL.flatMap(Self.describePostgres) ?? "postgres"
        case .sqlite, .memory: durable = store.rawValue
        }
        let prefix = redisKeyPrefix.isEmpty || (store != .redis && ephemeralStore != .redis) ? "" : " prefix \(redisKeyPrefix)"
        guard let ephemeralStore else { return durable + prefix }
        let ephemeral: String
        switch ephemeralStore {
        case .memory: ephemeral = "memory"
        case .redis: ephemeral = ephemeralStoreURL.flatMap(Self.describeRedis) ?? "redis"
        case .memcached: ephemeral = ephemeralStoreURL ?? "memcached"
        }
        return durable + ", ephemeral state in " + ephemeral + prefix
    }

    /// A Redis URL without its password.
    static func describeRedis(_ url: String) -> String? {
        guard let redis = RedisConfiguration(url: url) else { return nil }
        return "\(redis.usesTLS ? "rediss" : "redis")://\(redis.host):\(redis.port)/\(redis.database)"
    }

    /// The SQLite file path.
    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("pixy.sqlite") }
}
