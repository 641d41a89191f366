public import Foundation
public import Logging
import PixyModel

/// The authorization server, free of any transport: every endpoint of RFC 6749 and its
/// extensions as a typed request in, a typed outcome out. PixyHTTP decodes HTTP into these
/// requests and renders the outcomes; nothing about OAuth is decided there
/// (docs/architecture.md).
///
/// Built once from the stores, the signing keys, the policy, the clock and the password hasher.
public struct OAuthServer: Sendable {
    /// The stores every decision reads and writes.
    public let stores: PixyStores
    /// The OAuth settings.
    public let policy: ServerPolicy
    /// The clock every decision reads.
    public let clock: any WallClock
    /// The limits that keep unauthenticated work bounded (docs/security.md §7).
    public let limits: Limits
    /// Where the server counts what it does (docs/operations.md, Metrics).
    public let telemetry: Telemetry

    let passwords: any PasswordHashing
    /// Reaches upstream identity providers; `nil` when none is configured.
    let upstream: (any UpstreamConnecting)?
    let sessions: BrowserSessions
    let validator: AuthorizationRequestValidator
    let codeIssuer: AuthorizationCodeIssuer
    let tokenEndpoint: TokenEndpoint
    let revocation: TokenRevocation
    let introspection: TokenIntrospection
    let registrar: ClientRegistrar
    /// A bcrypt hash of a random password, checked when the username is unknown so that an
    /// unknown user costs as much time as a wrong password (no user enumeration by timing).
    let decoyPasswordHash: String

    /// The per-source and per-account limits.
    public struct Limits: Sendable {
        /// Failed-login limits, per account and per source.
        public var loginThrottle: LoginThrottle
        /// Per-source limit on registrations that create a new client.
        public var registration: RateLimiter
        /// Per-source limit on `GET /authorize` requests that store a pending request.
        public var authorization: RateLimiter
        /// Caps password checks (bcrypt) in flight, overall and per account.
        public var passwordWork: WorkLimiter

        /// The default limits; PixyServer's `Configuration` and the command line start from these.
        public enum Defaults {
            /// New-client registrations one source may make at once.
            public static let registrationBurst = 30
            /// New-client registrations one source regains per minute.
            public static let registrationsPerMinute = 10.0
            /// Authorization requests that store state, one source at once.
            public static let authorizationBurst = 60
            /// Authorization requests one source regains per minute.
            public static let authorizationsPerMinute = 60.0
        }

        /// Bundles the limits. Without `authorization` and `passwordWork`, the defaults: a burst of
        /// ``Defaults/authorizationBurst`` authorization requests per source, then
        /// ``Defaults/authorizationsPerMinute``; two password checks per core in flight, two per
        /// account.
        /// - Parameter buckets: where the default authorization limiter counts; pass the stores'
        ///   `tokenBuckets`, so processes sharing a store share the count (`nil`: this process only).
        public init(
            loginThrottle: LoginThrottle, registration: RateLimiter, authorization: RateLimiter? = nil,
            passwordWork: WorkLimiter? = nil, clock: any WallClock, buckets: (any TokenBucketStoring)?
        ) {
            self.loginThrottle = loginThrottle
            self.registration = registration
            self.authorization =
                authorization
                ?? RateLimiter(
                    clock: clock, burst: Defaults.authorizationBurst,
                    refillPerSecond: Defaults.authorizationsPerMinute / 60, buckets: buckets)
            self.passwordWork =
                passwordWork
                ?? WorkLimiter(maximumInFlight: 2 * ProcessInfo.processInfo.activeProcessorCount, maximumInFlightPerKey: 2)
        }
    }

    /// Builds the server.
    ///
    /// - Parameters:
    ///   - tokenIssuer: signs access tokens (PixyJWT's `SigningKeys`).
    ///   - tokenVerifier: verifies this server's own access tokens, for revocation and introspection.
    ///   - passwords: hashes and checks passwords on the login page.
    ///   - upstream: reaches the identity providers of `policy.upstreamProviders`.
    ///   - telemetry: counts token requests, sign-ins, consents, registrations and the rest.
    public init(
        stores: PixyStores, policy: ServerPolicy, clock: any WallClock, tokenIssuer: any AccessTokenIssuing,
        tokenVerifier: any AccessTokenVerifying, passwords: any PasswordHashing, limits: Limits,
        upstream: (any UpstreamConnecting)? = nil, telemetry: Telemetry = .disabled
    ) async throws {
        self.upstream = upstream
        self.telemetry = telemetry
        self.stores = stores
        self.policy = policy
        self.clock = clock
        self.limits = limits
        self.passwords = passwords
        sessions = BrowserSessions(store: stores.interactions, policy: policy, clock: clock)
        validator = AuthorizationRequestValidator(clients: stores.clients, policy: policy)
        codeIssuer = AuthorizationCodeIssuer(codes: stores.codes, policy: policy, clock: clock)
        tokenEndpoint = TokenEndpoint(
            clients: stores.clients, codes: stores.codes, tokens: tokenIssuer, tokenStatus: stores.tokenStatus,
            grants: stores.grants, users: stores.users, policy: policy, clock: clock, telemetry: telemetry)
        revocation = TokenRevocation(
            clients: stores.clients, verifier: tokenVerifier, tokenStatus: stores.tokenStatus,
            grants: stores.grants, policy: policy, clock: clock, telemetry: telemetry)
        introspection = TokenIntrospection(
            clients: stores.clients, users: stores.users, verifier: tokenVerifier,
            tokenStatus: stores.tokenStatus, clock: clock)
        registrar = ClientRegistrar(clients: stores.clients, policy: policy, clock: clock)
        decoyPasswordHash = try await passwords.hash(SecureRandom.token())
    }

    /// The authorization server metadata (RFC 8414 §2).
    public var metadata: ServerMetadata { ServerMetadata(policy: policy) }
}

/// Who sent a request, as the server's limits and logs see it.
public struct Caller: Sendable {
    /// The per-source key the limits count by (an IPv4 address or an IPv6 /64).
    public var source: String
    /// The request's logger.
    public var logger: Logger

    /// Describes a caller.
    public init(source: String, logger: Logger) {
        self.source = source
        self.logger = logger
    }
}
