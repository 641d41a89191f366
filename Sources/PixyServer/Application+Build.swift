public import Hummingbird
public import PixyCore
import PixyHTTP
import PixyJWT
import PixySQLite
import PixyCIMD
import PixyModel
public import Logging
import Foundation
import ServiceLifecycle

/// Opens the stores a configuration names.
public enum StoreFactory {
    /// The stores for `configuration`, creating the data directory when SQLite is used.
    public static func makeStores(_ configuration: Configuration, clock: any WallClock) throws -> PixyStores {
        switch configuration.store {
        case .memory:
            return PixyStores(InMemoryStore(clock: clock))
        case .sqlite:
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            return PixyStores(try SQLiteStore(path: configuration.databasePath, clock: clock))
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
        try await users.save(user)
        return password
    }
}

/// Builds the whole server for `configuration`. `pixy serve` and the tests call this same function.
///
/// - Parameters:
///   - stores: stores to use instead of opening the configured ones (tests pass in-memory ones).
///   - clock: the clock every decision reads.
///   - metadataFetcher: fetches Client ID Metadata Documents (tests pass a local one); by default
///     an https fetcher built from the configuration, when documents are accepted.
public func buildApplication(
    configuration: Configuration,
    stores: PixyStores? = nil,
    clock: any WallClock = SystemWallClock(),
    logger: Logger = Logger(label: "pixy"),
    metadataFetcher: (any ClientMetadataFetching)? = nil
) async throws -> some ApplicationProtocol {
    try configuration.validate()
    var stores = try stores ?? StoreFactory.makeStores(configuration, clock: clock)
    var services: [any Service] = []
    if configuration.acceptsClientMetadataDocuments {
        let fetcher: any ClientMetadataFetching
        if let metadataFetcher {
            fetcher = metadataFetcher
        } else {
            let https = try HTTPClientMetadataFetcher(allowedHosts: configuration.metadataDocumentAllowedHosts,
                                                      extraTrustedCAFile: configuration.metadataDocumentTrustedCAFile)
            services.append(https)
            fetcher = https
        }
        stores.clients = MetadataDocumentClientStore(base: stores.clients, fetcher: fetcher, policy: configuration.policy, clock: clock)
    }
    let keys = try await SigningKeys(store: stores.signingKeys, clock: clock, issuer: configuration.issuer,
                                     retention: configuration.accessTokenLifetime)
    let environment = AuthorizationServerEnvironment(
        stores: stores, policy: configuration.policy, clock: clock, tokenIssuer: keys, tokenVerifier: keys, jwksJSON: { keys.jwksJSON },
        passwords: BcryptPasswordHasher(cost: configuration.passwordHashCost), loginThrottle: LoginThrottle(clock: clock),
        registrationLimiter: RateLimiter(clock: clock, burst: configuration.registrationBurst,
                                         refillPerSecond: configuration.registrationsPerMinute / 60))
    let server = try await AuthorizationServer(environment: environment)
    let router = Router(context: PixyRequestContext.self)
    server.register(on: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "pixy"),
        services: services + [KeyReloadService(keys: keys, interval: configuration.keyReloadInterval, logger: logger)],
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
