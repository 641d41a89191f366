public import PixyCore
import PixySQLite
import PixyRedis
import PixyRESP
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

    /// The stores for `configuration`: creates the data directory when SQLite is used; for Redis,
    /// checks the deployment first (docs/operations.md: `noeviction`; persistence).
    public static func open(_ configuration: Configuration, clock: any WallClock, logger: Logger) async throws -> Opened {
        switch configuration.store {
        case .memory:
            return Opened(stores: PixyStores(InMemoryStore(clock: clock)), services: [])
        case .sqlite:
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true,
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
