public import Hummingbird
public import PixyCore
import PixyHTTP
import PixyJWT
import PixyCIMD
import PixyFederation
import Foundation
public import Logging
public import ServiceLifecycle

/// Builds the whole server for `configuration`. `pixy serve` and the tests call this same function.
///
/// - Parameters:
///   - stores: stores to use instead of opening the configured ones (tests pass in-memory ones).
///   - storeServices: services those stores need running (``StoreFactory/Opened/services``).
///   - clock: the clock every decision reads.
///   - metadataFetcher: fetches Client ID Metadata Documents (tests pass a local one); by default
///     an https fetcher built from the configuration, when documents are accepted.
///   - upstreamConnector: reaches the upstream identity providers (tests may pass their own); by
///     default an HTTP connector, when providers are configured.
///   - metrics: the registry to count into (tests read it); by default a new one when
///     ``Configuration/metricsPort`` is set, else nothing is counted.
///   - onServerRunning: called once the port is bound (and TLS loaded): `pixy serve` creates the
///     first user only then, so a start that fails never consumes the one-time password.
public func buildApplication(
    configuration: Configuration,
    stores: PixyStores? = nil,
    storeServices: [any Service] = [],
    clock: any WallClock = SystemWallClock(),
    logger: Logger = Logger(label: "pixy"),
    metadataFetcher: (any ClientMetadataFetching)? = nil,
    upstreamConnector: (any UpstreamConnecting)? = nil,
    metrics: PixyMetrics? = nil,
    onServerRunning: @escaping @Sendable () async -> Void = {}
) async throws -> some ApplicationProtocol {
    try configuration.validate()
    var services = storeServices
    var stores = try await {
        if let stores { return stores }
        let opened = try await StoreFactory.open(configuration, clock: clock, logger: logger)
        services += opened.services
        return opened.stores
    }()
    let metrics = metrics ?? configuration.metricsPort.map { _ in PixyMetrics() }
    let telemetry = metrics?.telemetry ?? .disabled
    if let metrics {
        let durable = configuration.store.rawValue
        stores = stores.instrumented(
            with: telemetry, durable: durable, ephemeral: configuration.ephemeralStore?.rawValue ?? durable)
        if let port = configuration.metricsPort {
            services.append(metrics.listener(host: configuration.metricsHost, port: port, logger: logger))
        }
    }
    if configuration.acceptsClientMetadataDocuments {
        let fetcher: any ClientMetadataFetching
        if let metadataFetcher {
            fetcher = metadataFetcher
        } else {
            let https = try HTTPClientMetadataFetcher(
                allowedHosts: configuration.metadataDocumentAllowedHosts,
                extraTrustedCAFile: configuration.metadataDocumentTrustedCAFile, clock: clock)
            services.append(https)
            fetcher = https
        }
        stores.clients = MetadataDocumentClientStore(
            base: stores.clients, fetcher: fetcher, policy: configuration.policy, clock: clock, telemetry: telemetry)
    }
    var upstream = upstreamConnector
    if upstream == nil, !configuration.upstreamProviders.isEmpty {
        let connector = HTTPUpstreamConnector(trustedCAFile: configuration.upstreamTrustedCAFile, clock: clock)
        services.append(connector)
        upstream = connector
    }
    let keys = try await SigningKeys(
        store: stores.signingKeys, clock: clock, issuer: configuration.issuer,
        retention: configuration.accessTokenLifetime)
    let oauth = try await OAuthServer(
        stores: stores, policy: configuration.policy, clock: clock, tokenIssuer: keys, tokenVerifier: keys,
        passwords: BcryptPasswordHasher(cost: configuration.passwordHashCost), limits: configuration.limits(clock: clock, stores: stores),
        upstream: upstream, telemetry: telemetry)
    if let metrics {
        let passwordWork = oauth.limits.passwordWork
        metrics.onScrape {
            telemetry.set(Telemetry.Name.passwordChecksInFlight, to: Double(passwordWork.inFlight))
            telemetry.set(Telemetry.Name.signingKeyAge, to: clock.now().timeIntervalSince(keys.currentKeyCreatedAt))
        }
    }
    let server = try AuthorizationServer(
        oauth: oauth, jwksJSON: { keys.jwksJSON },
        trustedProxies: configuration.trustedProxies.compactMap(AddressRange.init),
        branding: configuration.branding)
    let router = Router(context: PixyRequestContext.self)
    server.register(on: router)
    return Application(
        router: router,
        server: try configuration.serverBuilder(),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "pixy",
            availableConnectionsDelegate: .maximum(configuration.connectionLimits.effectiveMaximumConnections, logger: logger)),
        services: services + [KeyReloadService(keys: keys, interval: configuration.keyReloadInterval, logger: logger)],
        onServerRunning: { _ in await onServerRunning() },
        logger: logger)
}

extension Configuration {
    /// The per-source and per-account limits the configuration sets, counted in the shared store
    /// when there is one (so every process behind a balancer sees the same counts).
    func limits(clock: any WallClock, stores: PixyStores) -> OAuthServer.Limits {
        OAuthServer.Limits(
            loginThrottle: LoginThrottle(clock: clock, counters: stores.failureCounters),
            registration: RateLimiter(
                clock: clock, burst: registrationBurst, refillPerSecond: registrationsPerMinute / 60,
                buckets: stores.tokenBuckets),
            authorization: RateLimiter(
                clock: clock, burst: authorizationBurst, refillPerSecond: authorizationsPerMinute / 60,
                buckets: stores.tokenBuckets),
            clock: clock, buckets: stores.tokenBuckets)
    }
}
