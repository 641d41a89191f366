public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import ServiceLifecycle

/// ``IssuerClient`` over AsyncHTTPClient: short timeouts, no redirects, bounded bodies, and one
/// deadline over the whole exchange including the body (AsyncHTTPClient's own deadline stops at
/// the response head, so an issuer trickling its body would otherwise hold the request).
/// A ServiceLifecycle service: it shuts its HTTP client down on graceful shutdown.
public final class HTTPIssuerClient: IssuerClient, Service {
    private let client: HTTPClient
    /// The time one request may take, head and body.
    public let deadline: Duration

    /// Creates a client; `trustedCAFile` adds CA certificates (PEM) to the system's, for an
    /// issuer with a private CA; `deadline` bounds each whole request.
    public init(trustedCAFile: String? = nil, deadline: Duration = .seconds(5)) {
        self.deadline = deadline
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustedCAFile { tls.additionalTrustRoots = [.file(trustedCAFile)] }
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(3), read: .seconds(5)))
        client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
    }

    /// A non-200 answer from the issuer.
    public struct UnexpectedStatus: Error, CustomStringConvertible {
        /// The status code.
        public let status: Int
        public var description: String { "issuer answered \(status)" }
    }

    public func get(_ url: String) async throws -> Data {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        return try await execute(request)
    }

    public func post(_ url: String, form: [(String, String)], basicCredentials: (String, String)) async throws -> Data {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        // RFC 6749 §2.3.1: form-urlencode id and secret, then base64 them.
        let credentials = "\(Self.formEncode(basicCredentials.0)):\(Self.formEncode(basicCredentials.1))"
        request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: form.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")))
        return try await execute(request)
    }

    /// The whole request did not finish within ``deadline``.
    public struct DeadlineExceeded: Error, CustomStringConvertible {
        public var description: String { "the issuer did not answer in time" }
    }

    private func execute(_ request: HTTPClientRequest) async throws -> Data {
        let client = self.client
        let deadline = self.deadline
        return try await withThrowingTaskGroup(of: Data?.self) { group in
            group.addTask {
                let response = try await client.execute(request, timeout: .nanoseconds(Int64(deadline.inSeconds * 1e9)))
                let body = try await response.body.collect(upTo: 256 * 1024)
                guard response.status == .ok else { throw UnexpectedStatus(status: Int(response.status.code)) }
                return Data(body.readableBytesView)
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let data = first else { throw DeadlineExceeded() }
            return data
        }
    }

    private static func formEncode(_ value: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._*")
        return (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value).replacingOccurrences(of: "%20", with: "+")
    }

    /// Waits for graceful shutdown, then shuts the HTTP client down.
    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Shuts the HTTP client down (for a client used outside a service group).
    public func shutdown() async throws {
        try await client.shutdown()
    }
}
