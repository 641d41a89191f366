public import Foundation
import NIOSSL
public import PostgresNIO

/// Where and how to connect, from a libpq-style URL:
/// `postgres://user[:password]@host[:port]/database?sslmode=…&sslrootcert=…`.
///
/// `sslmode` means what it means to libpq, so an operator's existing URL keeps its meaning:
/// `disable` (no TLS), `prefer` (the default: TLS if the server offers it, unverified), `require`
/// (TLS, unverified, unless `sslrootcert` is given: then the chain is checked, as libpq does),
/// `verify-ca` (TLS, certificate chain checked), `verify-full` (chain and host name checked). `sslrootcert` names a PEM file of CA certificates to trust instead of the
/// system's. Use `verify-full` whenever PostgreSQL is reached over a network you do not control.
public struct PostgresURL: Sendable {
    /// The client configuration the URL describes.
    public var configuration: PostgresClient.Configuration
    /// The `sslmode`, as written (or `prefer`).
    public var sslMode: String
    /// The URL with any password removed, for logs and messages.
    public var redacted: String
    /// Whether the server's certificate chain is checked (`verify-ca`, `verify-full`, or
    /// `require` with `sslrootcert`).
    public var checksCertificateChain: Bool
    /// Whether the server's certificate must name the host (`verify-full`).
    public var checksHostName: Bool

    /// The `sslmode` values libpq knows; `allow` is treated as `prefer`.
    public static let sslModes: Set<String> = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    /// A malformed URL, said in words that never contain the password.
    public struct Invalid: Error, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// Parses `url`; throws ``Invalid`` with a reason when it is malformed or names an unknown
    /// `sslmode`, or a CA file that cannot be read.
    public init(_ url: String) throws {
        guard var components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql"
        else { throw Invalid(description: "not a postgres:// URL") }
        components.password = nil
        components.queryItems = components.queryItems?.filter { $0.name != "password" }
        if components.queryItems?.isEmpty == true { components.queryItems = nil }
        let redactedText = components.string ?? "postgres://?"
        guard let original = URLComponents(string: url), let host = original.host, !host.isEmpty else {
            throw Invalid(description: "\(redactedText): no host")
        }
        guard let user = original.user, !user.isEmpty else {
            throw Invalid(description: "\(redactedText): no user name (postgres://USER@host/database)")
        }
        let port = original.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "\(redactedText): bad port") }
        let database = original.path.hasPrefix("/") ? String(original.path.dropFirst()) : original.path
        var query: [String: String] = [:]
        for item in original.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let sslMode = query["sslmode"] ?? "prefer"
        guard Self.sslModes.contains(sslMode) else {
            throw Invalid(
                description: "\(redactedText): unknown sslmode \(sslMode) (disable, prefer, require, verify-ca or verify-full)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        let rootCertificate = query["sslrootcert"].flatMap { $0.isEmpty ? nil : $0 }
        switch sslMode {
        case "verify-full": tls.certificateVerification = .fullVerification
        case "verify-ca": tls.certificateVerification = .noHostnameVerification
        // libpq: with a root certificate given, `require` verifies the chain as `verify-ca` does.
        case "require" where rootCertificate != nil: tls.certificateVerification = .noHostnameVerification
        default: tls.certificateVerification = .none
        }
        if let file = rootCertificate {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
            } catch {
                throw Invalid(description: "\(redactedText): cannot read sslrootcert \(file): \(error)")
            }
        }
        let mode: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": mode = .disable
        case "allow", "prefer": mode = .prefer(tls)
        default: mode = .require(tls)
        }
        let unescapedUser = user.removingPercentEncoding ?? user
        let password = original.password.map { $0.removingPercentEncoding ?? $0 } ?? query["password"]
        configuration = PostgresClient.Configuration(
            host: host, port: port, username: unescapedUser, password: password,
            database: database.isEmpty ? nil : (database.removingPercentEncoding ?? database), tls: mode)
        configuration.options.connectTimeout = .seconds(3)
        self.sslMode = sslMode
        redacted = redactedText
        checksCertificateChain = sslMode != "disable" && tls.certificateVerification != .none
        checksHostName = sslMode != "disable" && tls.certificateVerification == .fullVerification
    }
}
