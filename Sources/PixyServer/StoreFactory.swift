public import PixyCore
import PixySQLite
import PixyRedis
import PixyRESP
import PixyPostgres
import PixyMemcached
public import Logging
import Foundation
public import ServiceLifecycle

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

    /// The stores for `configuration`: the durable store, and the ephemeral store when one is
    /// named (otherwise the durable store holds short-lived state too). Creates the data
    /// directory when SQLite is used; checks a Redis deployment first (docs/operations.md:
    /// `noeviction`; persistence).
    public static func open(_ configuration: Configuration, clock: any WallClock, logger: Logger) async throws -> Opened {
        var services: [any Service] = []
        do {
            let durable = try await openDurable(configuration, clock: clock, logger: logger, services: &services)
            guard let kind = configuration.ephemeralStore else {
                var stores = PixyStores(durable: durable.backend, ephemeral: durable.backend)
                stores.failureCounters = durable.counters
                stores.tokenBuckets = durable.buckets
                return Opened(stores: stores, services: services)
            }
            let ephemeral = try await openEphemeral(kind, configuration, clock: clock, logger: logger, services: &services)
            var stores = PixyStores(durable: durable.backend, ephemeral: ephemeral.backend)
            stores.failureCounters = ephemeral.counters
            stores.tokenBuckets = ephemeral.buckets
            return Opened(stores: stores, services: services)
        } catch {
            for service in services { (service as? any ClosableStore)?.close() }
            throw error
        }
    }

    /// An opened backend, with its shared login counters and rate buckets when it has them.
    struct OpenedBackend<Backend> {
        var backend: Backend
        var counters: (any FailureCounting)?
        var buckets: (any TokenBucketStoring)?
    }

    static func openDurable(
        _ configuration: Configuration, clock: any WallClock, logger: Logger, services: inout [any Service]
    ) async throws -> OpenedBackend<any PixyStorageBackend> {
        switch configuration.store {
        case .memory:
            return OpenedBackend(backend: InMemoryStore(clock: clock))
        case .sqlite:
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            return OpenedBackend(backend: try SQLiteStore(path: configuration.databasePath, clock: clock))
        case .redis:
            guard let url = configuration.redisURL else {
                throw Configuration.Invalid(description: "--store redis needs a redis:// URL")
            }
            let store = try await openRedis(url: url, configuration: configuration, clock: clock, logger: logger)
            services.append(store)
            return OpenedBackend(backend: store, counters: store, buckets: store)
        case .postgres:
            guard let url = configuration.postgresURL else {
                throw Configuration.Invalid(description: "--store postgres needs a postgres:// URL")
            }
            let store = try await openPostgres(url: url, clock: clock, logger: logger)
            services.append(store)
            return OpenedBackend(backend: store, counters: store, buckets: store)
        }
    }

    static func openEphemeral(
        _ kind: Configuration.EphemeralStoreKind, _ configuration: Configuration, clock: any WallClock, logger: Logger,
        services: inout [any Service]
    ) async throws -> OpenedBackend<any EphemeralStorageBackend> {
        switch kind {
        case .memory:
            if configuration.store == .redis || configuration.store == .postgres {
                logger.warning(
                    """
                    --ephemeral-store memory keeps codes and sessions in this process: run only one Pixy process for this \
                    issuer, or name a shared ephemeral store (redis:// or memcached://).
                    """)
            }
            return OpenedBackend(backend: InMemoryStore(clock: clock))
        case .redis:
            guard let url = configuration.ephemeralStoreURL else {
                throw Configuration.Invalid(description: "--ephemeral-store redis needs a redis:// URL")
            }
            let store = try await openRedis(url: url, configuration: configuration, clock: clock, logger: logger)
            services.append(store)
            return OpenedBackend(backend: store, counters: store, buckets: store)
        case .memcached:
            guard let url = configuration.ephemeralStoreURL else {
                throw Configuration.Invalid(description: "--ephemeral-store memcached needs a memcached:// URL")
            }
            let store = try await openMemcached(url: url, configuration: configuration, clock: clock, logger: logger)
            services.append(store)
            return OpenedBackend(backend: store, counters: store, buckets: store)
        }
    }

    /// A PostgreSQL store with its schema migrated (migrations run at start; `pixy migrate` runs
    /// them alone). The pool runs in a task until the store is closed.
    static func openPostgres(url: String, clock: any WallClock, logger: Logger) async throws -> PostgresStore {
        let parsed: PostgresURL
        do {
            parsed = try PostgresURL(url)
        } catch {
            throw Configuration.Invalid(description: "the PostgreSQL URL is not usable: \(error)")
        }
        let store = PostgresStore(url: parsed, clock: clock, logger: logger)
        do {
            let applied = try await store.migrate()
            if !applied.isEmpty { logger.notice("applied PostgreSQL migrations: \(applied.joined(separator: ", "))") }
        } catch {
            store.close()
            throw Configuration.Invalid(description: "cannot use PostgreSQL at \(parsed.redacted): \(error)")
        }
        return store
    }

    static func migratePostgres(url: String, logger: Logger) async throws -> [String] {
        let parsed: PostgresURL
        do {
            parsed = try PostgresURL(url)
        } catch {
            throw Configuration.Invalid(description: "the PostgreSQL URL is not usable: \(error)")
        }
        let store = PostgresStore(url: parsed, clock: SystemWallClock(), logger: logger)
        defer { store.close() }
        do {
            return try await store.migrate()
        } catch {
            throw Configuration.Invalid(description: "cannot migrate PostgreSQL at \(parsed.redacted): \(error)")
        }
    }

    /// A Memcached store whose servers were checked: each reachable, 1.6.13 or later, CAS on.
    static func openMemcached(url: String, configuration: Configuration, clock: any WallClock, logger: Logger) async throws
        -> MemcachedStore
    {
        guard let memcached = MemcachedConfiguration(url: url) else {
            throw Configuration.Invalid(description: "not a Memcached URL: \(url) (memcached://host:port[,host:port…])")
        }
        let store = MemcachedStore(configuration: memcached, clock: clock)
        do {
            let reports = try await store.checkServers()
            logger.info("memcached: \(reports.map { "\($0.server) \($0.version)" }.joined(separator: ", "))")
        } catch {
            store.close()
            throw Configuration.Invalid(description: "cannot use Memcached at \(url): \(error)")
        }
        return store
    }

    static func openRedis(url: String, configuration: Configuration, clock: any WallClock, logger: Logger) async throws -> RedisStore {
        guard var redis = RedisConfiguration(url: url) else {
            throw Configuration.Invalid(description: "not a Redis URL: \(Configuration.describeRedis(url) ?? "?")")
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
        return store
    }

    /// Applies the durable store's schema migrations and returns the names of those that had not
    /// run (`pixy migrate`). Redis and memory have no schema: nothing to apply.
    public static func migrate(_ configuration: Configuration, logger: Logger) async throws -> [String] {
        switch configuration.store {
        case .sqlite:
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            return try SQLiteStore.migrate(path: configuration.databasePath)
        case .postgres:
            guard let url = configuration.postgresURL else {
                throw Configuration.Invalid(description: "--store postgres needs a postgres:// URL")
            }
            return try await migratePostgres(url: url, logger: logger)
        case .redis, .memory:
            return []
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
        -> (users: Int, clients: Int, keys: Int)
    {
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
                throw Configuration.Invalid(
                    description: """
                        Redis maxmemory-policy is \(policy), so Redis may evict registered clients, refresh-token families or live \
                        codes under memory pressure. Set `maxmemory-policy noeviction` (docs/operations.md), or pass \
                        --redis-allow-eviction to start anyway.
                        """)
            }
            logger.critical(
                """
                REDIS MAY EVICT PIXY'S STATE: maxmemory-policy is \(policy), not noeviction. Registered clients and refresh \
                tokens can disappear without warning. Started only because --redis-allow-eviction was given.
                """)
        }
        if deployment.isPersistenceOff {
            logger.warning(
                """
                Redis persists nothing (appendonly no, no save rules): a Redis restart loses every registered client, user, \
                signing key and refresh-token family. Turn on AOF (appendonly yes): see docs/operations.md.
                """)
        } else if !deployment.isAppendOnly && deployment.snapshotRules == nil {
            logger.notice("Redis AOF is off and CONFIG is not allowed, so RDB snapshots could not be checked; make sure Redis persists.")
        }
    }
}

/// A store holding connections that must be closed when opening the stores fails half-way.
protocol ClosableStore {
    /// Closes the store's connections.
    func close()
}

extension RedisStore: ClosableStore {
    func close() { pool.close() }
}

extension PostgresStore: ClosableStore {}

extension MemcachedStore: ClosableStore {}
