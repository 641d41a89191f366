import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PixyCore
import PixyHTTP
import PixyModel
import PixyServer
import ServiceLifecycle

/// `pixy`: an OAuth 2.1 authorization server built around PKCE.
@main
struct Pixy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pixy",
        abstract: "An OAuth 2.1 authorization server built around PKCE (S256), for MCP servers, native apps and SPAs.",
        subcommands: [
            Serve.self, Migrate.self, Users.self, Clients.self, Grants.self, Keys.self, PKCE.self, LoginCommand.self, TokenCommand.self,
            DoctorCommand.self,
        ])
}

/// Options shared by every command that opens the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory of the SQLite store (default ./pixy-data; env PIXY_DATA_DIR).")
    var dataDirectory: String?
    @Option(
        help:
            "Durable store: sqlite, memory, a redis:// / rediss:// URL, or a postgres://…?sslmode=… URL (default sqlite; env PIXY_STORE)."
    )
    var store: String?
    @Option(
        name: .customLong("ephemeral-store"),
        help:
            "Where codes, sessions and counters live: memory, a redis:// URL, or memcached://host:port[,host:port…] (default: the durable store; env PIXY_EPHEMERAL_STORE)."
    )
    var ephemeralStore: String?
    @Option(
        name: .customLong("redis-prefix"),
        help: "Prefix for every Redis key, to share one Redis between deployments (env PIXY_REDIS_PREFIX).")
    var redisPrefix: String?
    @Option(
        name: .customLong("redis-ca-file"),
        help: "PEM CA certificates trusted for rediss:// instead of the system's (env PIXY_REDIS_CA_FILE).")
    var redisCAFile: String?
    @Flag(name: .customLong("redis-allow-eviction"), help: "Start even if Redis may evict keys (maxmemory-policy not noeviction). Unsafe.")
    var redisAllowEviction = false
    @Flag(
        name: .customLong("create"),
        help: "Admin commands: create the SQLite store if the data directory has none (pixy serve always does).")
    var createStore = false

    /// Applies these options (then `PIXY_*`) to `configuration`.
    func apply(to configuration: inout Configuration) throws {
        configuration.dataDirectory = dataDirectory ?? environmentValue("DATA_DIR") ?? configuration.dataDirectory
        if let value = store ?? environmentValue("STORE") {
            do { try configuration.setStore(value) } catch { throw ValidationError("\(error)") }
        }
        if let value = ephemeralStore ?? environmentValue("EPHEMERAL_STORE") {
            do { try configuration.setEphemeralStore(value) } catch { throw ValidationError("\(error)") }
        }
        configuration.redisKeyPrefix = redisPrefix ?? environmentValue("REDIS_PREFIX") ?? ""
        configuration.redisTrustedCAFile = redisCAFile ?? environmentValue("REDIS_CA_FILE")
        configuration.allowsRedisEviction = redisAllowEviction || environmentValue("REDIS_ALLOW_EVICTION") == "1"
    }

    /// Offboarding on `stores`. Admin commands do not know the server's access-token lifetime, so
    /// revocation markers live for the longest one `pixy serve` accepts (a day).
    func offboarding(_ stores: PixyStores) -> Offboarding {
        Offboarding(stores: stores, policy: ServerPolicy(issuer: "admin", accessTokenLifetime: .seconds(86400)), clock: SystemWallClock())
    }

    /// The stores an admin command works on. A typo must not create an empty store that the
    /// command then reports on as if it were the real one: a SQLite data directory without
    /// `pixy.sqlite` is refused unless `--create` is given, and `memory` (which lives only inside
    /// `pixy serve`) is refused outright.
    func openStores() async throws -> PixyStores {
        var configuration = Configuration()
        try apply(to: &configuration)
        switch configuration.store {
        case .memory:
            throw CommandFailure(
                "the memory store lives only inside `pixy serve`; an admin command on it would change nothing. Use --data-dir or a redis:// --store"
            )
        case .sqlite:
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: configuration.databasePath)
            if !exists && !createStore {
                let directoryExists = FileManager.default.fileExists(atPath: configuration.dataDirectory, isDirectory: &isDirectory)
                throw CommandFailure(
                    directoryExists
                        ? "no Pixy store in \(configuration.dataDirectory) (no pixy.sqlite): check --data-dir, or pass --create to start a new store"
                        : "no such data directory: \(configuration.dataDirectory): check --data-dir, or pass --create to start a new store there"
                )
            }
        case .redis, .postgres:
            break
        }
        do {
            try configuration.validateStores()
        } catch let error as Configuration.Invalid {
            throw CommandFailure(error.description)
        }
        // Warnings about the store go to standard error, so scripts can read what a command prints.
        let logger = Logger(label: "pixy") { label in StreamLogHandler.standardError(label: label) }
        let opened: StoreFactory.Opened
        do {
            opened = try await StoreFactory.open(configuration, clock: SystemWallClock(), logger: logger)
        } catch let error as Configuration.Invalid {
            throw CommandFailure(error.description)
        } catch {
            throw CommandFailure("cannot open the store \(configuration.storeLocation): \(StoreFactory.describe(error))")
        }
        // A networked store's service waits to close its connections on shutdown; an admin
        // command simply ends the process when it is done.
        for service in opened.services {
            Task { try? await service.run() }
        }
        return opened.stores
    }
}

/// A command that failed at run time (exit status 1, one line), as opposed to a usage error
/// (ArgumentParser's `ValidationError`, exit status 64, with the usage text).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads a value from a flag, else `PIXY_<NAME>`, else nil.
func environmentValue(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment["PIXY_" + name], !value.isEmpty else { return nil }
    return value
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the authorization server.",
        discussion:
            "Every option can also be set with an environment variable: PIXY_ISSUER, PIXY_HOST, PIXY_PORT, PIXY_DATA_DIR, PIXY_STORE, PIXY_EPHEMERAL_STORE, PIXY_REDIS_PREFIX, PIXY_REDIS_CA_FILE, PIXY_REDIS_ALLOW_EVICTION (1), PIXY_CODE_TTL, PIXY_ACCESS_TOKEN_TTL, PIXY_REFRESH_TOKEN_TTL, PIXY_REFRESH_TOKEN_IDLE_TTL, PIXY_CIMD (off), PIXY_CIMD_ALLOW_HOSTS, PIXY_CIMD_CA_FILE, PIXY_SCOPES, PIXY_DEFAULT_SCOPE, PIXY_REGISTRATION_BURST, PIXY_REGISTRATIONS_PER_MINUTE, PIXY_AUTHORIZE_BURST, PIXY_AUTHORIZATIONS_PER_MINUTE, PIXY_REFRESH_RETRY_WINDOW, PIXY_SESSION_LIFETIME, PIXY_TRUSTED_PROXIES, PIXY_IDLE_TIMEOUT, PIXY_REQUEST_TIMEOUT, PIXY_MAX_CONNECTIONS, PIXY_TLS_CERT, PIXY_TLS_KEY, PIXY_BRAND_NAME, PIXY_BRAND_LOGO, PIXY_SCOPE_DESCRIPTIONS (scope=text;scope=text), PIXY_UPSTREAMS, PIXY_PASSWORD_LOGIN (off), PIXY_UPSTREAM_CA_FILE, PIXY_LOG_LEVEL, PIXY_LOG_FORMAT. Flags win over the environment."
    )

    @Option(help: "Issuer URL; https unless loopback (default http://127.0.0.1:<port>).") var issuer: String?
    @Option(help: "Address to bind (default 127.0.0.1).") var host: String?
    @Option(help: "Port to bind (default 8080).") var port: Int?
    @OptionGroup var storeOptions: StoreOptions
    @Option(
        name: .customLong("code-ttl"),
        help: "Authorization code lifetime in seconds, 1-600 (default \(ServerPolicy.Defaults.codeLifetime.components.seconds)).")
    var codeTTL: Int?
    @Option(
        name: .customLong("access-token-ttl"),
        help: "Access token lifetime in seconds (default \(ServerPolicy.Defaults.accessTokenLifetime.components.seconds)).")
    var accessTokenTTL: Int?
    @Option(
        name: .customLong("refresh-token-ttl"),
        help:
            "Absolute refresh-token lifetime in seconds (default \(ServerPolicy.Defaults.refreshTokenLifetime.components.seconds) = 90 days)."
    )
    var refreshTokenTTL: Int?
    @Option(
        name: .customLong("refresh-token-idle-ttl"),
        help:
            "Refresh tokens unused this many seconds die (default \(ServerPolicy.Defaults.refreshTokenIdleLifetime.components.seconds) = 30 days)."
    )
    var refreshTokenIdleTTL: Int?
    @Option(help: "Space-separated scopes_supported (default \"read write\").") var scopes: String?
    @Option(
        name: .customLong("default-scope"),
        help:
            "Scope granted when a request names none and the client registered none (default: the first of --scopes; \"\" refuses such requests with invalid_scope)."
    ) var defaultScope: String?
    @Flag(name: .customLong("no-client-metadata-documents"), help: "Refuse https URLs as client ids (env PIXY_CIMD=off).")
    var noClientMetadataDocuments = false
    @Option(
        name: .customLong("cimd-allow-host"), help: "A host whose metadata document may resolve to a private/loopback address (repeat).")
    var cimdAllowHosts: [String] = []
    @Option(name: .customLong("cimd-ca-file"), help: "PEM CA certificates trusted for metadata document fetches, besides the system's.")
    var cimdCAFile: String?
    @Option(
        name: .customLong("tls-cert"),
        help: "Serve TLS directly with this certificate chain (PEM; env PIXY_TLS_CERT). Behind a TLS-terminating proxy, leave it out.")
    var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "The TLS private key (PEM; env PIXY_TLS_KEY).")
    var tlsKey: String?
    @Option(
        name: .customLong("seed-data-dir"),
        help:
            "With --store memory: start with the users, clients and signing keys of the SQLite store in this directory (demos, benchmarks)."
    )
    var seedDataDirectory: String?
    @Option(
        name: .customLong("benchmark-prefill-codes"),
        help: ArgumentHelp("Benchmarks only: store this many live codes before listening (docs/performance.md).", visibility: .hidden))
    var benchmarkPrefillCodes = 0
    @Option(
        name: .customLong("benchmark-prefill-sessions"),
        help: ArgumentHelp(
            "Benchmarks only: store this many signed-in sessions before listening (docs/performance.md).", visibility: .hidden))
    var benchmarkPrefillSessions = 0
    @Option(
        name: .customLong("registration-burst"),
        help: "New-client registrations one address may make at once (default \(OAuthServer.Limits.Defaults.registrationBurst)).")
    var registrationBurst: Int?
    @Option(
        name: .customLong("registrations-per-minute"),
        help:
            "New-client registrations one address regains per minute (default \(Int(OAuthServer.Limits.Defaults.registrationsPerMinute))).")
    var registrationsPerMinute: Double?
    @Option(
        name: .customLong("authorize-burst"),
        help: "Authorization requests one address may make at once (default \(OAuthServer.Limits.Defaults.authorizationBurst)).")
    var authorizeBurst: Int?
    @Option(
        name: .customLong("authorizations-per-minute"),
        help: "Authorization requests one address regains per minute (default \(Int(OAuthServer.Limits.Defaults.authorizationsPerMinute)))."
    )
    var authorizationsPerMinute: Double?
    @Option(
        name: .customLong("session-lifetime"),
        help: "Seconds a browser stays signed in (default \(ServerPolicy.Defaults.sessionLifetime.components.seconds) = 8 hours).")
    var sessionLifetime: Int?
    @Option(
        name: .customLong("refresh-retry-window"),
        help:
            "Seconds after a rotation in which the previous refresh token still returns the new one (default \(ServerPolicy.Defaults.refreshTokenRetryWindow.components.seconds); 0 turns retries off)."
    )
    var refreshRetryWindow: Int?
    @Option(
        name: .customLong("trusted-proxy"),
        help: "A reverse proxy (address or CIDR) whose X-Forwarded-For names the client, for per-address limits and logs (repeat).")
    var trustedProxies: [String] = []
    @Option(name: .customLong("idle-timeout"), help: "Seconds a connection may stay idle, or take for its TLS handshake (default 30).")
    var idleTimeout: Int?
    @Option(name: .customLong("request-timeout"), help: "Seconds from a request's first byte to the end of its body (default 30).")
    var requestTimeout: Int?
    @Option(name: .customLong("max-connections"), help: "Connections open at once (default: 3/4 of the open-file limit).")
    var maxConnections: Int?
    @Option(name: .customLong("brand-name"), help: "Your name at the top of every page (default Pixy; env PIXY_BRAND_NAME).")
    var brandName: String?
    @Option(name: .customLong("brand-logo"), help: "Your logo: an https URL or a data:image/png|svg+xml;base64, URI (env PIXY_BRAND_LOGO).")
    var brandLogo: String?
    @Option(
        name: .customLong("scope-description"),
        help: "scope=text shown beside the scope on the consent page (repeat; env PIXY_SCOPE_DESCRIPTIONS as scope=text;scope=text).")
    var scopeDescriptions: [String] = []
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (default info).") var logLevel: String?
    @Option(
        name: .customLong("log-format"),
        help:
            "text (one line per message) or json (one JSON object per line; docs/operations.md, Logs) (default text; env PIXY_LOG_FORMAT).")
    var logFormat: String?
    @Option(
        name: .customLong("metrics-port"),
        help: "Serve Prometheus metrics at GET /metrics on this port, apart from OAuth (default off; env PIXY_METRICS_PORT).")
    var metricsPort: Int?
    @Option(
        name: .customLong("metrics-host"),
        help: "The address the metrics listener binds (default 127.0.0.1; env PIXY_METRICS_HOST).")
    var metricsHost: String?
    @Option(
        name: .customLong("upstreams"),
        help: "A JSON file of identity providers users sign in through (docs/federation.md; env PIXY_UPSTREAMS).")
    var upstreamsFile: String?
    @Flag(
        name: .customLong("no-password-login"),
        help: "Only upstream identity providers sign users in; no password form (env PIXY_PASSWORD_LOGIN=off).")
    var noPasswordLogin = false
    @Option(
        name: .customLong("upstream-ca-file"),
        help: "PEM CA certificates trusted for upstream identity providers, besides the system's (env PIXY_UPSTREAM_CA_FILE).")
    var upstreamCAFile: String?

    /// The log level named, or `info`; an unknown name is refused rather than ignored.
    static func logLevel(_ name: String?) throws -> Logger.Level {
        guard let name else { return .info }
        guard let level = Logger.Level(rawValue: name) else {
            throw ValidationError(
                "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")) (got \(name))")
        }
        return level
    }

    func makeConfiguration() throws -> Configuration {
        var configuration = Configuration()
        configuration.host = host ?? environmentValue("HOST") ?? configuration.host
        if let port = try port ?? environmentValue("PORT").map(Self.integer) { configuration.port = port }
        let loopbackHost = ["0.0.0.0", "::", "127.0.0.1"].contains(configuration.host) ? "127.0.0.1" : configuration.host
        let usesTLS = (tlsCertificate ?? environmentValue("TLS_CERT")) != nil
        configuration.issuer =
            issuer ?? environmentValue("ISSUER") ?? "\(usesTLS ? "https" : "http")://\(loopbackHost):\(configuration.port)"
        try storeOptions.apply(to: &configuration)
        if let seconds = try codeTTL ?? environmentValue("CODE_TTL").map(Self.integer) { configuration.codeLifetime = .seconds(seconds) }
        if let seconds = try accessTokenTTL ?? environmentValue("ACCESS_TOKEN_TTL").map(Self.integer) {
            configuration.accessTokenLifetime = .seconds(seconds)
        }
        if let seconds = try refreshTokenTTL ?? environmentValue("REFRESH_TOKEN_TTL").map(Self.integer) {
            configuration.refreshTokenLifetime = .seconds(seconds)
        }
        if let seconds = try refreshTokenIdleTTL ?? environmentValue("REFRESH_TOKEN_IDLE_TTL").map(Self.integer) {
            configuration.refreshTokenIdleLifetime = .seconds(seconds)
        }
        if let seconds = try environmentValue("KEY_RELOAD_INTERVAL").map(Self.integer) {
            guard seconds >= 1 else { throw ValidationError("PIXY_KEY_RELOAD_INTERVAL must be at least 1 second") }
            configuration.keyReloadInterval = .seconds(seconds)
        }
        if let value = defaultScope ?? environmentValue("DEFAULT_SCOPE") {
            guard let scope = Scope(parsing: value) else { throw ValidationError("--default-scope is not a valid scope list") }
            configuration.defaultScope = scope
        }
        if noClientMetadataDocuments || environmentValue("CIMD") == "off" { configuration.acceptsClientMetadataDocuments = false }
        let allowHosts = cimdAllowHosts + (environmentValue("CIMD_ALLOW_HOSTS")?.split(separator: " ").map(String.init) ?? [])
        configuration.metadataDocumentAllowedHosts = Set(allowHosts)
        configuration.metadataDocumentTrustedCAFile = cimdCAFile ?? environmentValue("CIMD_CA_FILE")
        if let value = scopes ?? environmentValue("SCOPES") {
            guard let scope = Scope(parsing: value), !scope.isEmpty else {
                throw ValidationError("--scopes must name at least one scope, e.g. \"read write\" (got \"\(value)\")")
            }
            configuration.scopes = scope
        }
        configuration.tlsCertificateFile = tlsCertificate ?? environmentValue("TLS_CERT")
        configuration.tlsKeyFile = tlsKey ?? environmentValue("TLS_KEY")
        if let burst = try registrationBurst ?? environmentValue("REGISTRATION_BURST").map(Self.integer) {
            guard burst >= 1 else { throw ValidationError("--registration-burst must be at least 1") }
            configuration.registrationBurst = burst
        }
        if let rate = registrationsPerMinute ?? environmentValue("REGISTRATIONS_PER_MINUTE").flatMap(Double.init) {
            guard rate > 0 else { throw ValidationError("--registrations-per-minute must be positive") }
            configuration.registrationsPerMinute = rate
        }
        if let burst = try authorizeBurst ?? environmentValue("AUTHORIZE_BURST").map(Self.integer) {
            guard burst >= 1 else { throw ValidationError("--authorize-burst must be at least 1") }
            configuration.authorizationBurst = burst
        }
        if let rate = authorizationsPerMinute ?? environmentValue("AUTHORIZATIONS_PER_MINUTE").flatMap(Double.init) {
            guard rate > 0 else { throw ValidationError("--authorizations-per-minute must be positive") }
            configuration.authorizationsPerMinute = rate
        }
        if let seconds = try sessionLifetime ?? environmentValue("SESSION_LIFETIME").map(Self.integer) {
            configuration.sessionLifetime = .seconds(seconds)
        }
        if let seconds = try refreshRetryWindow ?? environmentValue("REFRESH_RETRY_WINDOW").map(Self.integer) {
            configuration.refreshTokenRetryWindow = .seconds(seconds)
        }
        configuration.trustedProxies = trustedProxies + (environmentValue("TRUSTED_PROXIES")?.split(separator: " ").map(String.init) ?? [])
        if let seconds = try idleTimeout ?? environmentValue("IDLE_TIMEOUT").map(Self.integer) {
            configuration.connectionLimits.idleTimeout = .seconds(seconds)
        }
        if let seconds = try requestTimeout ?? environmentValue("REQUEST_TIMEOUT").map(Self.integer) {
            configuration.connectionLimits.requestTimeout = .seconds(seconds)
        }
        if let count = try maxConnections ?? environmentValue("MAX_CONNECTIONS").map(Self.integer) {
            configuration.connectionLimits.maximumConnections = count
        }
        configuration.brandName = brandName ?? environmentValue("BRAND_NAME") ?? configuration.brandName
        configuration.brandLogo = brandLogo ?? environmentValue("BRAND_LOGO")
        let descriptions = (environmentValue("SCOPE_DESCRIPTIONS")?.split(separator: ";").map(String.init) ?? []) + scopeDescriptions
        configuration.scopeDescriptions = try Self.scopeDescriptions(descriptions)
        if let file = upstreamsFile ?? environmentValue("UPSTREAMS") {
            do { try configuration.loadUpstreams(from: file) } catch { throw ValidationError("\(error)") }
        }
        configuration.metricsPort = try metricsPort ?? environmentValue("METRICS_PORT").map(Self.integer)
        configuration.metricsHost = metricsHost ?? environmentValue("METRICS_HOST") ?? configuration.metricsHost
        if noPasswordLogin || environmentValue("PASSWORD_LOGIN") == "off" { configuration.allowsPasswordLogin = false }
        configuration.upstreamTrustedCAFile = upstreamCAFile ?? environmentValue("UPSTREAM_CA_FILE")
        do { try configuration.validate() } catch { throw ValidationError("\(error)") }
        return configuration
    }

    /// Parses `scope=text` pairs; a later pair for the same scope wins (flags come after the environment).
    static func scopeDescriptions(_ pairs: [String]) throws -> [String: String] {
        var descriptions: [String: String] = [:]
        for pair in pairs where !pair.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("--scope-description must look like scope=text (got \(pair))")
            }
            var text = String(pair[pair.index(after: equals)...])
            if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
            descriptions[String(pair[..<equals]).trimmingCharacters(in: .whitespaces)] = text
        }
        return descriptions
    }

    static func integer(_ text: String) throws -> Int {
        guard let value = Int(text) else { throw ValidationError("\(text) is not a whole number") }
        return value
    }

    func run() async throws {
        guard benchmarkPrefillCodes >= 0, benchmarkPrefillSessions >= 0 else {
            throw ValidationError("--benchmark-prefill-codes and --benchmark-prefill-sessions must not be negative")
        }
        let configuration = try makeConfiguration()
        let level = try Self.logLevel(logLevel ?? environmentValue("LOG_LEVEL"))
        switch logFormat ?? environmentValue("LOG_FORMAT") ?? "text" {
        case "text":
            LoggingSystem.bootstrap { label in
                var handler = TextLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        case "json":
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        case let other:
            throw ValidationError("--log-format must be text or json (got \(other))")
        }
        let clock = SystemWallClock()
        let logger = Logger(label: "pixy")
        let opened: StoreFactory.Opened
        do {
            opened = try await StoreFactory.open(configuration, clock: clock, logger: logger)
        } catch let error as Configuration.Invalid {
            throw CommandFailure(error.description)
        } catch {
            throw CommandFailure("cannot open the store \(configuration.storeLocation): \(StoreFactory.describe(error))")
        }
        let stores = opened.stores
        if let seedDataDirectory {
            guard configuration.store == .memory else { throw ValidationError("--seed-data-dir works with --store memory only") }
            var seed = configuration
            seed.store = .sqlite
            seed.ephemeralStore = nil
            seed.dataDirectory = seedDataDirectory
            let copied = try await StoreFactory.copyDurableState(
                from: try await StoreFactory.open(seed, clock: clock, logger: logger).stores, to: stores)
            say("pixy: seeded the memory store with \(copied.users) users, \(copied.clients) clients and \(copied.keys) signing keys")
        }
        if benchmarkPrefillCodes > 0 || benchmarkPrefillSessions > 0 {
            say(
                "pixy: BENCHMARK PREFILL: writing \(benchmarkPrefillCodes) codes and \(benchmarkPrefillSessions) sessions into \(configuration.storeDescription); never on a store in use"
            )
            let started = ContinuousClock.now
            let filled = try await BenchmarkPrefill(codes: benchmarkPrefillCodes, sessions: benchmarkPrefillSessions)
                .run(into: stores, issuer: configuration.issuer, clock: clock)
            say(
                "pixy: benchmark prefill stored \(filled.codes) codes and \(filled.sessions) sessions in \(ContinuousClock.now - started)"
            )
        }
        let hashCost = configuration.passwordHashCost
        let app = try await buildApplication(
            configuration: configuration, stores: stores, storeServices: opened.services, clock: clock,
            logger: logger,
            onServerRunning: {
                say(
                    "pixy: issuer \(configuration.issuer), listening on \(configuration.host):\(configuration.port), store \(configuration.storeDescription)"
                )
                // Only now that the port is bound: a start that fails (port busy, bad certificate)
                // never creates the first user, so its password is never shown and lost.
                do {
                    if let password = try await Bootstrap.createAdminIfNeeded(
                        users: stores.users, passwords: BcryptPasswordHasher(cost: hashCost), clock: clock)
                    {
                        // Printed once, to the terminal, never through the logger.
                        say(
                            """
                            Created the first user.
                              username: admin
                              password: \(password)
                            Keep this password: it is shown only now. Forgot it? `pixy users set-password admin`.
                            """)
                    }
                } catch {
                    logger.error("could not create the first user", metadata: ["error": "\(error)"])
                }
            })
        try await app.runService()
    }
}

/// Writes a line to standard output unbuffered, so the first-start password and the banner reach
/// a pipe or log file at once (print() is block-buffered when stdout is not a terminal).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// `pixy migrate`: applies the durable store's schema migrations and exits, for deployments
/// that migrate in a separate step before rolling out new processes (`pixy serve` also
/// migrates at start; migrations are idempotent and serialized between processes).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the store's schema migrations, then exit.",
        discussion: "PostgreSQL and SQLite have migrations; Redis and memory have no schema. `pixy serve` migrates at start too.")

    @OptionGroup var storeOptions: StoreOptions

    func run() async throws {
        var configuration = Configuration()
        try storeOptions.apply(to: &configuration)
        do {
            try configuration.validateStores()
        } catch let error as Configuration.Invalid {
            throw CommandFailure(error.description)
        }
        let logger = Logger(label: "pixy") { label in StreamLogHandler.standardError(label: label) }
        do {
            let applied = try await StoreFactory.migrate(configuration, logger: logger)
            say(applied.isEmpty ? "pixy: the store's schema is up to date" : "pixy: applied migrations \(applied.joined(separator: ", "))")
        } catch let error as Configuration.Invalid {
            throw CommandFailure(error.description)
        } catch {
            throw CommandFailure("cannot migrate the store \(configuration.storeLocation): \(StoreFactory.describe(error))")
        }
    }
}
