import Foundation
public import PixyCore
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import NIOHTTP1
import Synchronization

/// Fetches Client ID Metadata Documents over https with a small NIO client made for this one job
/// (docs/threat-model.md, the metadata-document rows of the attack table):
///
/// - the host is resolved once, off the cooperative pool, through an injectable
///   ``MetadataHostResolving``; every answer must pass ``FetchAddressPolicy/isPublic(_:)``
///   unless the operator's allow-list names the host;
/// - the connection goes to the vetted address itself (no second resolution, so DNS rebinding
///   cannot swap it), with the name in SNI, in certificate verification and in `Host` (NIOSSL's
///   identity check, RFC 6125, also accepts a certificate naming the vetted IP address);
/// - exactly one connection attempt per fetch, no redirects, HTTP/1.1 `GET` with
///   `Connection: close`; only `200` with `application/json` is accepted, and the body is capped;
/// - one deadline covers resolution, connect, TLS, headers and body;
/// - at most ``maximumConcurrentFetches`` fetches run at once; beyond that a fetch fails at once
///   with ``MetadataFetchUnavailable`` (never queued);
/// - a host that failed to resolve, was refused by the address guard, or failed at the
///   connection level is not contacted again for ``hostFailureLifetime``, whatever the path.
public final class HTTPClientMetadataFetcher: ClientMetadataFetching, Service {
    private let allowedHosts: Set<String>
    private let sslContext: NIOSSLContext
    private let resolver: any MetadataHostResolving
    private let clock: any WallClock
    private let inFlight = Mutex(0)
    private let failedHosts = Mutex<[String: Date]>([:])
    /// Largest document accepted, in bytes.
    public let maximumBytes: Int
    /// Fetches allowed in flight at once.
    public let maximumConcurrentFetches: Int
    /// The one deadline for a whole fetch: resolution, connect, TLS, headers and body.
    public let deadline: Duration
    /// How long a failed host is left alone.
    public let hostFailureLifetime: Duration
    /// Hosts remembered as failed at most (expired ones are dropped first when full).
    public static let maximumFailedHosts = 10_000

    /// Creates a fetcher.
    /// - Parameters:
    ///   - allowedHosts: hosts that may resolve to non-public addresses (tests, internal clients).
    ///   - extraTrustedCAFile: a PEM file of CA certificates trusted in addition to the system's.
    ///   - maximumBytes: the size cap, kept within 5 KB and 64 KB.
    ///   - maximumConcurrentFetches: fetches in flight at once; more fail at once.
    ///   - deadline: the time a whole fetch may take.
    ///   - hostFailureLifetime: how long a host that failed is not contacted again.
    ///   - resolver: resolves host names; the system resolver on its own threads by default.
    ///   - clock: the clock the failed-host memory reads.
    public init(
        allowedHosts: Set<String> = [], extraTrustedCAFile: String? = nil, maximumBytes: Int = 16 * 1024,
        maximumConcurrentFetches: Int = 8, deadline: Duration = .seconds(5), hostFailureLifetime: Duration = .seconds(30),
        resolver: (any MetadataHostResolving)? = nil, clock: any WallClock = SystemWallClock()
    ) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let extraTrustedCAFile {
            tls.additionalTrustRoots = [.file(extraTrustedCAFile)]
        }
        sslContext = try NIOSSLContext(configuration: tls)
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
        self.maximumBytes = min(max(maximumBytes, 5 * 1024), 64 * 1024)
        self.maximumConcurrentFetches = max(1, maximumConcurrentFetches)
        self.deadline = deadline
        self.hostFailureLifetime = hostFailureLifetime
        self.resolver = resolver ?? SystemHostResolver(maximumConcurrentLookups: max(1, maximumConcurrentFetches))
        self.clock = clock
    }

    /// A fetch refused or failed; the client is then unknown. The ``code`` is stable, for
    /// decisions and counts; the ``reason`` is for logs.
    public struct FetchError: Error, Hashable, CustomStringConvertible {
        /// What kind of failure this is.
        public let code: Code
        /// Why, in words, for logs.
        public let reason: String

        init(_ code: Code, _ reason: String) {
            self.code = code
            self.reason = reason
        }

        /// The ``reason``.
        public var description: String { reason }

        /// Whether the host as a whole is at fault (resolution, address guard, connection, TLS,
        /// deadline), as opposed to this one document (status, type, size) or its URL.
        public var blamesHost: Bool { code != .invalidURL && code != .unacceptableResponse }

        /// Equal when the codes are.
        public static func == (lhs: FetchError, rhs: FetchError) -> Bool { lhs.code == rhs.code }

        /// Hashes the code only, consistently with `==`.
        public func hash(into hasher: inout Hasher) { hasher.combine(code) }

        /// A kind of fetch failure.
        public struct Code: Sendable, Hashable, CustomStringConvertible {
            private enum Backing: String, Sendable {
                case invalidURL, hostFailedRecently, noAddress, forbiddenAddress, timedOut, connectionClosed, unacceptableResponse
            }
            private let backing: Backing
            private init(_ backing: Backing) { self.backing = backing }

            /// The code's name.
            public var description: String { backing.rawValue }

            /// Not a metadata document URL (docs/security.md §7).
            public static let invalidURL = Code(.invalidURL)
            /// The host failed shortly before and is left alone for a while.
            public static let hostFailedRecently = Code(.hostFailedRecently)
            /// The name resolved to no address.
            public static let noAddress = Code(.noAddress)
            /// The name resolved to a private, loopback or reserved address (the SSRF guard).
            public static let forbiddenAddress = Code(.forbiddenAddress)
            /// The one deadline over connect, TLS, headers and body passed.
            public static let timedOut = Code(.timedOut)
            /// The connection closed before the response was complete.
            public static let connectionClosed = Code(.connectionClosed)
            /// The response was not a `200` JSON document within the size cap.
            public static let unacceptableResponse = Code(.unacceptableResponse)
        }
    }

    /// Fetches in flight now.
    public var fetchesInFlight: Int { inFlight.withLock { $0 } }

    public func fetchDocument(at url: String) async throws -> FetchedDocument {
        guard let target = Target(url) else { throw FetchError(.invalidURL, "not a metadata document URL") }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(self.deadline.timeInterval * 1e9))
        if hasFailedRecently(target.hostKey) { throw FetchError(.hostFailedRecently, "host failed recently") }
        let admitted = inFlight.withLock { count in
            guard count < maximumConcurrentFetches else { return false }
            count += 1
            return true
        }
        guard admitted else { throw MetadataFetchUnavailable("too many metadata document fetches in flight") }
        defer { inFlight.withLock { $0 -= 1 } }
        do {
            let resolver = self.resolver
            let addresses = try await Self.withDeadline(deadline) { try await resolver.addresses(of: target.bareHost, port: target.port) }
            guard let address = try vettedAddress(addresses, for: target) else { throw FetchError(.noAddress, "host has no address") }
            return try await exchange(target, address: address, deadline: deadline)
        } catch let busy as MetadataFetchUnavailable {
            throw busy
        } catch let cancelled as CancellationError {
            throw cancelled
        } catch let error as FetchError where !error.blamesHost {
            throw error
        } catch {
            rememberFailure(of: target.hostKey)
            throw error
        }
    }

    /// The address to connect to: every answer must be public unless the host is allow-listed
    /// (one private answer is enough to refuse); IPv4 first, then IPv6, and only one is tried.
    private func vettedAddress(_ addresses: [SocketAddress], for target: Target) throws -> SocketAddress? {
        if !allowedHosts.contains(target.hostKey) {
            guard addresses.allSatisfy({ $0.ipAddress.map(FetchAddressPolicy.isPublic) ?? false }) else {
                throw FetchError(.forbiddenAddress, "host resolves to a non-public address")
            }
        }
        return addresses.first { $0.protocol == .inet } ?? addresses.first { $0.protocol == .inet6 }
    }

    // MARK: Failed hosts

    private func hasFailedRecently(_ host: String) -> Bool {
        let now = clock.now()
        return failedHosts.withLock { $0[host].map { $0 > now } ?? false }
    }

    private func rememberFailure(of host: String) {
        let now = clock.now()
        let until = now.addingTimeInterval(hostFailureLifetime.timeInterval)
        failedHosts.withLock { hosts in
            if hosts.count >= Self.maximumFailedHosts { hosts = hosts.filter { $0.value > now } }
            if hosts.count < Self.maximumFailedHosts { hosts[host] = until }
        }
    }

    // MARK: The exchange

    /// One connection to `address`, one `GET`, the whole of it before `deadline`.
    private func exchange(_ target: Target, address: SocketAddress, deadline: NIODeadline) async throws -> FetchedDocument {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: FetchedDocument.self)
        let timer = loop.scheduleTask(deadline: deadline) { promise.fail(FetchError(.timedOut, "deadline exceeded")) }
        promise.futureResult.whenComplete { _ in timer.cancel() }

        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.pathAndQuery)
        head.headers.add(name: "Host", value: target.authority)
        head.headers.add(name: "Accept", value: "application/json")
        head.headers.add(name: "User-Agent", value: "pixy")
        head.headers.add(name: "Connection", value: "close")
        let request = head
        let sslContext = self.sslContext
        let serverName = target.isIPLiteral ? nil : target.bareHost
        let maximumBytes = self.maximumBytes
        let remaining = deadline - .now()
        guard remaining > .zero else { throw FetchError(.timedOut, "deadline exceeded") }

        ClientBootstrap(group: loop)
            .connectTimeout(remaining)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // serverHostname: SNI and the name the certificate must carry; for an IP
                    // literal NIOSSL checks the certificate against the peer's address instead.
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        DocumentResponseHandler(request: request, maximumBytes: maximumBytes, promise: promise))
                }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel): promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error): promise.fail(error)
                }
            }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    /// Runs `operation` (which may never finish, like a name server that never answers) and gives
    /// up on it at `deadline`; the operation is then cancelled and its answer ignored.
    static func withDeadline<T: Sendable>(_ deadline: NIODeadline, _ operation: @escaping @Sendable () async throws -> T) async throws -> T
    {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: T.self)
        let task = Task {
            do { promise.succeed(try await operation()) } catch { promise.fail(error) }
        }
        let timer = loop.scheduleTask(deadline: deadline) {
            promise.fail(FetchError(.timedOut, "deadline exceeded"))
            task.cancel()
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
            task.cancel()
        }
    }

    /// Runs until graceful shutdown. (Nothing to release: connections live only for one fetch
    /// and use the shared event loop group.)
    public func run() async throws {
        try? await gracefulShutdown()
    }
}

/// The parts of a metadata-document URL the exchange needs.
struct Target {
    /// `host[:port]` exactly as in the URL: the `Host` header (RFC 9110 §7.2).
    var authority: String
    /// The host without IPv6 brackets, for resolution and SNI.
    var bareHost: String
    /// The host as ``ClientIDMetadataDocument/host(of:)`` gives it, lowercased: the key of the
    /// allow-list and of the failed-host memory.
    var hostKey: String
    var port: Int
    var pathAndQuery: String
    var isIPLiteral: Bool

    init?(_ url: String) {
        guard ClientIDMetadataDocument.isDocumentURL(url), let host = ClientIDMetadataDocument.host(of: url) else { return nil }
        let rest = url.dropFirst("https://".count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        authority = String(rest[..<slash])
        pathAndQuery = String(rest[slash...])
        let afterHost = authority.dropFirst(host.count)
        if afterHost.isEmpty {
            port = 443
        } else {
            let digits = afterHost.dropFirst()
            guard afterHost.first == ":", !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let number = Int(digits), (1...65535).contains(number)
            else { return nil }
            port = number
        }
        bareHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        guard !bareHost.isEmpty else { return nil }
        hostKey = host.lowercased()
        isIPLiteral = (try? SocketAddress(ipAddress: bareHost, port: 0)) != nil
    }
}

/// Sends the request when the connection opens and collects one response: `200` with
/// `application/json` only, the body capped at `maximumBytes` (the exchange is aborted as soon as
/// it would exceed it). Completes `promise` once; the fetcher closes the channel then.
final class DocumentResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let maximumBytes: Int
    private let promise: EventLoopPromise<FetchedDocument>
    private var body: [UInt8] = []
    private var cacheControl: String?
    private var accepted = false

    init(request: HTTPRequestHead, maximumBytes: Int, promise: EventLoopPromise<FetchedDocument>) {
        self.request = request
        self.maximumBytes = maximumBytes
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard head.status == .ok else { return fail(context, "status \(head.status.code)") }
            let contentType = head.headers.first(name: "Content-Type")?.lowercased() ?? ""
            guard contentType.hasPrefix("application/json") else { return fail(context, "content type \(contentType)") }
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > maximumBytes {
                return fail(context, "document larger than \(maximumBytes) bytes")
            }
            cacheControl = head.headers.first(name: "Cache-Control")
            accepted = true
        case .body(let buffer):
            guard accepted else { return }
            guard body.count + buffer.readableBytes <= maximumBytes else {
                return fail(context, "document larger than \(maximumBytes) bytes")
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard accepted else { return }
            accepted = false
            promise.succeed(FetchedDocument(body: body, cacheControl: cacheControl))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTPClientMetadataFetcher.FetchError(.connectionClosed, "connection closed before the response was complete"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    private func fail(_ context: ChannelHandlerContext, _ why: String) {
        accepted = false
        promise.fail(HTTPClientMetadataFetcher.FetchError(.unacceptableResponse, why))
        context.close(promise: nil)
    }
}
