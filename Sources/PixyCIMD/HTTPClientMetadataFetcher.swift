public import AsyncHTTPClient
public import PixyCore
import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// Fetches Client ID Metadata Documents over https with AsyncHTTPClient (issue 3 §8):
/// no redirects, short timeouts, a size cap, `application/json` only, and an SSRF guard that
/// refuses hosts resolving to private, loopback or link-local addresses unless the operator's
/// allow-list names them.
///
/// Known limit: the guard resolves the host itself before AsyncHTTPClient connects, so a DNS
/// answer that changes between the two (rebinding) is not caught. The allow-list, https and the
/// exact `client_id` match keep what a rebinding attacker can reach small.
public final class HTTPClientMetadataFetcher: ClientMetadataFetching, Service {
    private let client: HTTPClient
    private let allowedHosts: Set<String>
    /// Largest document accepted, in bytes.
    public let maximumBytes: Int

    /// Creates a fetcher.
    /// - Parameters:
    ///   - allowedHosts: hosts that may resolve to non-public addresses (tests, internal clients).
    ///   - extraTrustedCAFile: a PEM file of CA certificates trusted in addition to the system's.
    ///   - maximumBytes: the size cap, kept within 5 KB and 64 KB.
    public init(allowedHosts: Set<String> = [], extraTrustedCAFile: String? = nil, maximumBytes: Int = 16 * 1024) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let extraTrustedCAFile {
            tls.additionalTrustRoots = [.file(extraTrustedCAFile)]
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(3), read: .seconds(5)))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
        self.allowedHosts = allowedHosts
        self.maximumBytes = min(max(maximumBytes, 5 * 1024), 64 * 1024)
    }

    /// A fetch refused or failed; the client is then unknown.
    public struct FetchError: Error, CustomStringConvertible {
        /// Why, for logs.
        public let description: String
    }

    public func fetchDocument(at url: String) async throws -> FetchedDocument {
        guard ClientIDMetadataDocument.isDocumentURL(url), let host = ClientIDMetadataDocument.host(of: url) else {
            throw FetchError(description: "not a metadata document URL")
        }
        if !allowedHosts.contains(host) {
            let addresses = try Self.resolve(host)
            guard !addresses.isEmpty, addresses.allSatisfy(FetchAddressPolicy.isPublic) else {
                throw FetchError(description: "host resolves to a non-public address")
            }
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await client.execute(request, timeout: .seconds(5))
        guard response.status == .ok else { throw FetchError(description: "status \(response.status.code)") }
        let contentType = response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else { throw FetchError(description: "content type \(contentType)") }
        let body = try await response.body.collect(upTo: maximumBytes)
        return FetchedDocument(body: Array(body.readableBytesView), cacheControl: response.headers.first(name: "Cache-Control"))
    }

    /// Every address `host` resolves to, as text.
    static func resolve(_ host: String) throws -> [String] {
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(bare, nil, &hints, &list) == 0, let first = list else {
            throw FetchError(description: "cannot resolve host")
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(cString: buffer))
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// Runs until graceful shutdown, then shuts the HTTP client down.
    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
