public import Hummingbird
public import PixyCore
import PixyHTTP
import PixyJWT
import PixySQLite
import PixyRedis
import PixyRESP
import PixyCIMD
import PixyModel
public import Logging
import Foundation
public import ServiceLifecycle
import HummingbirdTLS
import HummingbirdCore
import NIOSSL

/// Opens the stores a configuration names.
public enum StoreFactory {
    /// Stores, and the services that must run beside them (the Redis connection pool, which
    /// closes its connections on graceful shutdown).
    public struct Opened: Sendable {
        /// The stores.
        public var stores: PixyStores
        /// Services to run with the application.
        public var services: [any Service]
    }

    /// The stores for `configuration`: creates the data directory when SQLite is used; for Redis,
    /// checks the deployment first (SECURITY.md: `noeviction`; persistence).
    public static func open(_ configuration: Configuration, clock: any WallClock, logger: Logger) async throws -> Opened {
        switch configuration.store {
        case .memory:
            return Opened(stores: PixyStores(InMemoryStore(clock: clock)), services: [])
        case .sqlite:
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            return Opened(stores: PixyStores(try SQLiteStore(path: configuration.databasePath, clock: clock)), services: [])
        case .redis:
            guard let url = configuration.redisURL, var redis = RedisConfiguration(url: url) else {
                throw Configuration.Invalid(description: "--store redis needs a redis:// URL")
            }
            redis.trustedCAFile = configuration.redisTrustedCAFile
            let store = RedisStore(configuration: redis, prefix: configuration.redisKeyPrefix, clock: clock)
            let deployment: RedisDeployment
            do {
                deployment = try await store.inspectDeployment()
            } catch {
                store.pool.close()
                throw Configuration.Invalid(description: "cannot reach Redis at \(redis.host):\(redis.port): \(error)")
            }
            do {
                try check(deployment, configuration: configuration, logger: logger)
            } catch {
                store.pool.close()
                throw error
            }
            var stores = PixyStores(store)
            stores.failureCounters = store
            stores.tokenBuckets = store
            return Opened(stores: stores, services: [store])
        }
    }

    /// One line for a store-opening failure (a file-system error's own sentence rather than its
    /// bridged dump).
    public static func describe(_ error: any Error) -> String {
        let bridged = error as NSError
        if bridged.domain == NSCocoaErrorDomain {
            let path = bridged.userInfo[NSFilePathErrorKey] as? String
            if let underlying = bridged.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
                return (path.map { "\($0): " } ?? "") + String(cString: strerror(Int32(underlying.code)))
            }
            if let path, let problem = firstUnusableAncestor(of: path) { return problem }
            return (path.map { "\($0): " } ?? "") + "cannot be created or opened"
        }
        return String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    }

    /// The first component of `path` that exists but is not a directory, said as a sentence.
    static func firstUnusableAncestor(of path: String) -> String? {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) else { return nil }
            if !isDirectory.boolValue { return "\(current) is a file, not a directory" }
        }
        return nil
    }

    /// Copies users, clients and signing keys from one set of stores to another (seeding a
    /// memory store for a demo or a benchmark); returns how many of each.
    public static func copyDurableState(from source: PixyStores, to destination: PixyStores) async throws
        -> (users: Int, clients: Int, keys: Int) {
        let users = try await source.users.allUsers()
        for user in users { try await destination.users.save(user) }
        let clients = try await source.clients.allClients()
        for client in clients { try await destination.clients.save(client) }
        let keys = try await source.signingKeys.allSigningKeys()
        for key in keys { try await destination.signingKeys.save(key) }
        return (users.count, clients.count, keys.count)
    }

    /// Refuses a Redis that may evict (unless explicitly allowed) or lacks `GETDEL`; warns when
    /// nothing is persisted.
    static func check(_ deployment: RedisDeployment, configuration: Configuration, logger: Logger) throws {
        guard deployment.supportsGETDEL else {
            throw Configuration.Invalid(description: "Redis \(deployment.version ?? "?") is too old: Pixy needs 6.2 or later (GETDEL)")
        }
        if deployment.mayEvict {
            let policy = deployment.evictionPolicy ?? "unknown"
            guard configuration.allowsRedisEviction else {
                throw Configuration.Invalid(description: """
                    Redis maxmemory-policy is \(policy), so Redis may evict registered clients, refresh-token families or live \
                    codes under memory pressure. Set `maxmemory-policy noeviction` (docs/operations.md), or pass \
                    --redis-allow-eviction to start anyway.
                    """)
            }
            logger.critical("""
                REDIS MAY EVICT PIXY'S STATE: maxmemory-policy is \(policy), not noeviction. Registered clients and refresh \
                tokens can disappear without warning. Started only because --redis-allow-eviction was given.
                """)
        }
        if deployment.isPersistenceOff {
            logger.warning("""
                Redis persists nothing (appendonly no, no save rules): a Redis restart loses every registered client, user, \
                signing key and refresh-token family. Turn on AOF (appendonly yes): see docs/operations.md.
                """)
        } else if !deployment.isAppendOnly && deployment.snapshotRules == nil {
            logger.notice("Redis AOF is off and CONFIG is not allowed, so RDB snapshots could not be checked; make sure Redis persists.")
        }
    }
}

/// The first-start bootstrap: with no users at all, an `admin` with a random password.
public enum Bootstrap {
    /// Creates `admin` if the user store is empty; returns the password to print once.
    public static func createAdminIfNeeded(users: any UserStore, passwords: any PasswordHashing, clock: any WallClock) async throws -> String? {
        guard try await users.allUsers().isEmpty else { return nil }
        let password = SecureRandom.token(byteCount: 18)
        let user = User(id: SecureRandom.token(byteCount: 16), username: "admin",
                        passwordHash: try await passwords.hash(password), createdAt: clock.now())
        do {
            try await users.save(user)
        } catch let error as StorageError where error.code == .duplicateUsername {
            // Another process sharing the store created it first; its password was printed there.
            return nil
        }
        return password
    }
}

/// Builds the whole server for `configuration`. `pixy serve` and the tests call this same function.
///
/// - Parameters:
///   - stores: stores to use instead of opening the configured ones (tests pass in-memory ones).
///   - storeServices: services those stores need running (``StoreFactory/Opened/services``).
///   - clock: the clock every decision reads.
///   - metadataFetcher: fetches Client ID Metadata Documents (tests pass a local one); by default
///     an https fetcher built from the configuration, when documents are accepted.
///   - onServerRunning: called once the port is bound (and TLS loaded): `pixy serve` creates the
///     first user only then, so a start that fails never consumes the one-time password.
public func buildApplication(
    configuration: Configuration,
    stores: PixyStores? = nil,
    storeServices: [any Service] = [],
    clock: any WallClock = SystemWallClock(),
    logger: Logger = Logger(label: "pixy"),
    metadataFetcher: (any ClientMetadataFetching)? = nil,
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
    if configuration.acceptsClientMetadataDocuments {
        let fetcher: any ClientMetadataFetching
        if let metadataFetcher {
            fetcher = metadataFetcher
        } else {
            let https = try HTTPClientMetadataFetcher(allowedHosts: configuration.metadataDocumentAllowedHosts,
                                                      extraTrustedCAFile: configuration.metadataDocumentTrustedCAFile, clock: clock)
            services.append(https)
            fetcher = https
        }
        stores.clients = MetadataDocumentClientStore(base: stores.clients, fetcher: fetcher, policy: configuration.policy, clock: clock)
    }
    let keys = try await SigningKeys(store: stores.signingKeys, clock: clock, issuer: configuration.issuer,
                                     retention: configuration.accessTokenLifetime)
    var environment = AuthorizationServerEnvironment(
        stores: stores, policy: configuration.policy, clock: clock, tokenIssuer: keys, tokenVerifier: keys, jwksJSON: { keys.jwksJSON },
        passwords: BcryptPasswordHasher(cost: configuration.passwordHashCost), loginThrottle: LoginThrottle(clock: clock, counters: stores.failureCounters),
        registrationLimiter: RateLimiter(clock: clock, burst: configuration.registrationBurst,
                                         refillPerSecond: configuration.registrationsPerMinute / 60, buckets: stores.tokenBuckets),
        authorizationLimiter: RateLimiter(clock: clock, burst: configuration.authorizationBurst,
                                          refillPerSecond: configuration.authorizationsPerMinute / 60, buckets: stores.tokenBuckets))
    environment.trustedProxies = configuration.trustedProxies.compactMap(AddressRange.init)
    environment.branding = configuration.branding
    let server = try await AuthorizationServer(environment: environment)
    let router = Router(context: PixyRequestContext.self)
    server.register(on: router)
    return Application(
        router: router,
        server: try configuration.serverBuilder(),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "pixy",
                             availableConnectionsDelegate: .maximum(configuration.connectionLimits.effectiveMaximumConnections, logger: logger)),
        services: services + [KeyReloadService(keys: keys, interval: configuration.keyReloadInterval, logger: logger)],
        onServerRunning: { _ in await onServerRunning() },
        logger: logger)
}

/// Reloads the signing keys now and then, so `pixy keys rotate` (run against the same store)
/// takes effect without a restart. Stops with the application (graceful shutdown).
struct KeyReloadService: Service {
    let keys: SigningKeys
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Graceful shutdown (SIGTERM, or the end of a test) must end the loop, not only cancellation.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                do {
                    if try await keys.reload() {
                        logger.notice("signing keys reloaded", metadata: ["kid": "\(keys.currentKeyID)"])
                    }
                } catch {
                    logger.error("reloading signing keys failed; keeping the current ones", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

extension Configuration {
    /// Plain HTTP/1.1, or TLS when a certificate and key are configured (`--tls-cert`, `--tls-key`).
    func serverBuilder() throws -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: connectionLimits.http1Configuration)
        guard let certificateFile = tlsCertificateFile, let keyFile = tlsKeyFile else { return http1 }
        let chain: [NIOSSLCertificateSource]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw Invalid(description: "cannot read the TLS certificate or key: \(error)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.applicationProtocols = ["http/1.1"]
        return try .tls(http1, tlsConfiguration: tls)
    }
}
