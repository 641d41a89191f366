import PixyRESP
import PixyPostgres
import PixyMemcached
import Foundation

/// The rules about which stores may be combined (docs/operations.md, Stores).
extension Configuration {
    /// Where the stores are, for an error message: the data directory for SQLite, the URLs
    /// (without passwords) otherwise.
    public var storeLocation: String {
        store == .sqlite ? "\(storeDescription) in \(dataDirectory)" : storeDescription
    }

    /// Checks the store settings alone (admin commands need no issuer).
    public func validateStores() throws {
        if store == .redis {
            guard let redisURL, RedisConfiguration(url: redisURL) != nil else {
                throw Invalid(description: "the Redis URL must look like redis://[user:password@]host[:port][/db] or rediss://…")
            }
        }
        try validateStoreURLs()
    }

    /// Checks the URLs of the durable and ephemeral stores before anything connects.
    func validateStoreURLs() throws {
        if store == .postgres {
            guard let postgresURL else { throw Invalid(description: "--store postgres needs a postgres:// URL") }
            do {
                _ = try PostgresURL(postgresURL)
            } catch {
                throw Invalid(description: "the PostgreSQL URL is not usable: \(error)")
            }
        }
        switch ephemeralStore {
        case nil, .memory:
            break
        case .redis:
            guard let url = ephemeralStoreURL, RedisConfiguration(url: url) != nil else {
                throw Invalid(
                    description: "the ephemeral Redis URL must look like redis://[user:password@]host[:port][/db] or rediss://…")
            }
        case .memcached:
            guard let url = ephemeralStoreURL, MemcachedConfiguration(url: url) != nil else {
                throw Invalid(description: "--ephemeral-store memcached needs memcached://host:port[,host:port…]")
            }
        }
    }

    /// A PostgreSQL URL without its password.
    static func describePostgres(_ url: String) -> String? {
        (try? PostgresURL(url))?.redacted
    }
}
