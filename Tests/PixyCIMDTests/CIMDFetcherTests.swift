import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PixyCIMD
import PixyCore
import PixyTesting
import Synchronization
import Testing

// MARK: Test doubles

/// A counter shared between a test and the code it drives.
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    @discardableResult func increment() -> Int {
        count.withLock {
            $0 += 1; return $0
        }
    }
}

/// A resolver answering from a table and counting lookups; unknown names fail.
final class TableResolver: MetadataHostResolving {
    let table: [String: [SocketAddress]]
    let lookups = Counter()
    init(_ table: [String: [SocketAddress]]) { self.table = table }
    func addresses(of host: String, port: Int) async throws -> [SocketAddress] {
        lookups.increment()
        guard let addresses = table[host] else { throw TestFailure("no such host \(host)") }
        return try addresses.map { try SocketAddress(ipAddress: $0.ipAddress!, port: port) }
    }
}

/// A resolver that never answers (a name server that drops queries): it waits until cancelled.
final class SilentResolver: MetadataHostResolving {
    let lookups = Counter()
    func addresses(of host: String, port: Int) async throws -> [SocketAddress] {
        lookups.increment()
        try await Task.sleep(for: .seconds(3600))
        throw TestFailure("answered")
    }
}

/// A resolver whose lookups wait until the test opens the gate, then fail.
final class GatedResolver: MetadataHostResolving {
    let entered = Counter()
    private let waiters = Mutex<(open: Bool, continuations: [CheckedContinuation<Void, Never>])>((false, []))
    func addresses(of host: String, port: Int) async throws -> [SocketAddress] {
        entered.increment()
        await withCheckedContinuation { continuation in
            let resumeNow = waiters.withLock { state in
                if state.open { return true }
                state.continuations.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
        throw TestFailure("gate opened: no answer")
    }
    func open() {
        let continuations = waiters.withLock { state in
            state.open = true
            defer { state.continuations = [] }
            return state.continuations
        }
        continuations.forEach { $0.resume() }
    }
}

/// Waits (by polling a count, never by timing the work) until `condition` holds.
func waitUntil(_ condition: () -> Bool) async throws {
    while !condition() { try await Task.sleep(for: .milliseconds(5)) }
}

/// A CA and a server certificate for `cimd.pixy.test` and `localhost` only, made with the
/// `openssl` tool (as ``TestCertificateAuthority`` does). No IP address: NIOSSL also accepts a
/// certificate naming the connected address, which would hide whether the name is checked.
struct DocumentCertificates {
    let caFile: String
    let certificateFile: String
    let keyFile: String

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-cimd-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        caFile = path("ca.pem")
        certificateFile = path("server.pem")
        keyFile = path("server.key")
        try "subjectAltName=DNS:cimd.pixy.test,DNS:localhost\n".write(toFile: path("ext"), atomically: true, encoding: .utf8)
        for arguments in [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"),
                "-out", caFile, "-days", "2", "-subj", "/CN=Pixy CIMD Test CA",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", path("server.csr"),
                "-subj", "/CN=cimd.pixy.test",
            ],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", caFile, "-CAkey", path("ca.key"), "-CAcreateserial",
                "-out", certificateFile, "-days", "2", "-extfile", path("ext"),
            ],
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // waitpid, not waitUntilExit (see RedisServer.stop in PixyTesting).
            var status: Int32 = 0
            while waitpid(process.processIdentifier, &status, 0) == -1 && errno == EINTR {}
        }
        guard FileManager.default.fileExists(atPath: certificateFile) else { throw TestFailure("openssl made no certificate") }
    }

    static let shared = Result { try DocumentCertificates() }
}

/// An https server on 127.0.0.1 that counts accepted connections and serves, trickles or drops.
final class DocumentServer: Sendable {
    enum Behaviour: Sendable {
        /// Answers by path: `/oauth/client.json` a document naming the URL it was asked at,
        /// `/missing.json` 404, `/text.json` text/plain, `/redirect.json` 302, `/big.json` 20 KB
        /// without Content-Length, `/big-length.json` 20 KB with it.
        case serve
        /// Sends the whole response one byte at a time, `interval` apart.
        case trickle(interval: TimeAmount)
        /// Closes every connection as soon as it is accepted.
        case drop
    }

    private let channel: any Channel
    private let box: RecordBox
    /// The port it listens on.
    let port: Int

    /// Connections accepted so far.
    var accepted: Int { box.state.withLock { $0.accepted } }
    /// `Host` + path of every request.
    var requests: [String] { box.state.withLock { $0.requests } }

    init(_ behaviour: Behaviour, certificates: DocumentCertificates) async throws {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.keyFile, format: .pem)))
        let context = try NIOSSLContext(configuration: configuration)
        let box = RecordBox()
        self.box = box
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                box.accept()
                if case .drop = behaviour { return child.close() }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try child.pipeline.syncOperations.addHandler(RawHTTPHandler(behaviour: behaviour, box: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    func close() async {
        try? await channel.close()
    }
}

/// What a ``DocumentServer`` saw.
final class RecordBox: Sendable {
    let state = Mutex<(accepted: Int, requests: [String])>((0, []))
    func accept() { state.withLock { $0.accepted += 1 } }
    func request(_ line: String) { state.withLock { $0.requests.append(line) } }
}

/// Reads one request (up to the blank line) and answers it as the behaviour says.
final class RawHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let behaviour: DocumentServer.Behaviour
    private let box: RecordBox
    private var received = ""
    private var answered = false

    init(behaviour: DocumentServer.Behaviour, box: RecordBox) {
        self.behaviour = behaviour
        self.box = box
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        guard !answered, let end = received.range(of: "\r\n\r\n") else { return }
        answered = true
        let lines = received[..<end.lowerBound].split(separator: "\r\n").map(String.init)
        let path = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        let host =
            lines.first { $0.lowercased().hasPrefix("host:") }.map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) } ?? ""
        box.request(host + path)
        let response = Array(Self.response(path: path, host: host).utf8)
        switch behaviour {
        case .trickle(let interval): trickle(context: context, bytes: response, index: 0, interval: interval)
        default:
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: response))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    private func trickle(context: ChannelHandlerContext, bytes: [UInt8], index: Int, interval: TimeAmount) {
        guard index < bytes.count, context.channel.isActive else { return context.close(promise: nil) }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [bytes[index]])), promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            self.trickle(context: context, bytes: bytes, index: index + 1, interval: interval)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    static func response(path: String, host: String) -> String {
        func answer(_ status: String, _ type: String, _ body: String, length: Bool = true, extra: String = "") -> String {
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\n\(length ? "Content-Length: \(body.utf8.count)\r\n" : "")\(extra)Connection: close\r\n\r\n\(body)"
        }
        let document = #"{"client_id":"https://\#(host)\#(path)","client_name":"Fetched","redirect_uris":["http://127.0.0.1/cb"]}"#
        switch path {
        case "/missing.json": return answer("404 Not Found", "application/json", "{}")
        case "/text.json": return answer("200 OK", "text/plain", document)
        case "/redirect.json":
            return answer("302 Found", "application/json", "{}", extra: "Location: https://\(host)/oauth/client.json\r\n")
        case "/big.json": return answer("200 OK", "application/json", String(repeating: " ", count: 20_000) + document, length: false)
        case "/big-length.json": return answer("200 OK", "application/json", String(repeating: " ", count: 20_000) + document)
        default: return answer("200 OK", "application/json", document, extra: "Cache-Control: max-age=300\r\n")
        }
    }
}

// MARK: The tests

/// The network defences of the metadata-document fetcher (docs/threat-model.md, the
/// metadata-document rows). Every test drives a local server or an injected resolver and judges
/// by counts and outcomes, never by elapsed time.
@Suite("Client ID Metadata Document fetcher: network defences", .serialized)
struct CIMDFetcherTests {
    let certificates: DocumentCertificates
    static let loopback = try! SocketAddress(ipAddress: "127.0.0.1", port: 0)

    init() throws {
        certificates = try DocumentCertificates.shared.get()
    }

    func loopbackResolver() -> TableResolver {
        TableResolver(["cimd.pixy.test": [Self.loopback], "localhost": [Self.loopback], "other.pixy.test": [Self.loopback]])
    }

    func fetcher(
        allowing allowed: Set<String> = ["cimd.pixy.test", "other.pixy.test"], resolver: any MetadataHostResolving,
        deadline: Duration = .seconds(30), maximumConcurrentFetches: Int = 8,
        clock: any WallClock = ManualClock()
    ) throws -> HTTPClientMetadataFetcher {
        try HTTPClientMetadataFetcher(
            allowedHosts: allowed, extraTrustedCAFile: certificates.caFile,
            maximumConcurrentFetches: maximumConcurrentFetches, deadline: deadline,
            resolver: resolver, clock: clock)
    }

    @Test(
        "DNS rebinding: one lookup, and the connection goes to the vetted address with the URL's name in SNI, certificate check and Host",
        .timeLimit(.minutes(1)))
    func connectsToVettedAddress() async throws {
        let server = try await DocumentServer(.serve, certificates: certificates)
        defer { Task { await server.close() } }
        let resolver = loopbackResolver()
        // cimd.pixy.test exists only in this resolver: a client that resolved the name again
        // itself (as AsyncHTTPClient would) could not connect at all.
        let url = "https://cimd.pixy.test:\(server.port)/oauth/client.json"
        let fetched = try await fetcher(resolver: resolver).fetchDocument(at: url)
        #expect(String(decoding: fetched.body, as: UTF8.self).contains(#""client_id":"\#(url)""#))
        #expect(fetched.cacheControl == "max-age=300")
        #expect(resolver.lookups.value == 1)
        #expect(server.accepted == 1)
        #expect(server.requests == ["cimd.pixy.test:\(server.port)/oauth/client.json"], "Host is the URL's authority")
    }

    @Test("TLS: the certificate must name the URL's host, even for an allow-listed host on a vetted address", .timeLimit(.minutes(1)))
    func certificateMustNameHost() async throws {
        let server = try await DocumentServer(.serve, certificates: certificates)
        defer { Task { await server.close() } }
        await #expect(throws: (any Error).self) {
            _ = try await fetcher(resolver: loopbackResolver()).fetchDocument(
                at: "https://other.pixy.test:\(server.port)/oauth/client.json")
        }
        #expect(server.requests.isEmpty, "no request is sent over an unverified connection")
    }

    @Test(
        "SSRF guard: a name resolving to loopback, or to a mix of public and private addresses, is refused before any connection",
        .timeLimit(.minutes(1)))
    func nonPublicRefusedBeforeConnecting() async throws {
        let server = try await DocumentServer(.serve, certificates: certificates)
        defer { Task { await server.close() } }
        let resolver = TableResolver([
            "cimd.pixy.test": [Self.loopback],
            "mixed.pixy.test": [try SocketAddress(ipAddress: "93.184.216.34", port: 0), Self.loopback],
        ])
        let guarded = try fetcher(allowing: [], resolver: resolver)
        for host in ["cimd.pixy.test", "mixed.pixy.test"] {
            let refusal = await #expect(throws: HTTPClientMetadataFetcher.FetchError.self) {
                _ = try await guarded.fetchDocument(at: "https://\(host):\(server.port)/oauth/client.json")
            }
            #expect(refusal?.code == .forbiddenAddress)
        }
        #expect(server.accepted == 0)
    }

    @Test(
        "Only 200 with application/json under the size cap; redirects are not followed; a bad document does not blame its host",
        .timeLimit(.minutes(1)))
    func documentRules() async throws {
        let server = try await DocumentServer(.serve, certificates: certificates)
        defer { Task { await server.close() } }
        let fetcher = try fetcher(resolver: loopbackResolver())
        let base = "https://cimd.pixy.test:\(server.port)"
        for path in ["/missing.json", "/text.json", "/redirect.json", "/big.json", "/big-length.json"] {
            let refusal = await #expect(throws: HTTPClientMetadataFetcher.FetchError.self, "\(path)") {
                _ = try await fetcher.fetchDocument(at: base + path)
            }
            #expect(refusal?.code == .unacceptableResponse, "\(path)")
            #expect(refusal?.blamesHost == false, "\(path)")
        }
        #expect(server.accepted == 5, "one connection per fetch, none for the redirect target")
        _ = try await fetcher.fetchDocument(at: base + "/oauth/client.json")
        #expect(server.accepted == 6)
    }

    @Test(
        "One deadline for the whole exchange: a server trickling its response byte by byte fails the fetch at the deadline",
        .timeLimit(.minutes(1)))
    func trickleHitsDeadline() async throws {
        // ~230 bytes, 100 ms apart: the whole answer would take over 20 s; the deadline is 5 s, so
        // that even a busy machine completes the TLS handshake (and the server counts the
        // connection) well before it, and the trickle is what the deadline cuts.
        let server = try await DocumentServer(.trickle(interval: .milliseconds(100)), certificates: certificates)
        defer { Task { await server.close() } }
        await #expect(throws: HTTPClientMetadataFetcher.FetchError.self) {
            _ = try await fetcher(resolver: loopbackResolver(), deadline: .seconds(5))
                .fetchDocument(at: "https://cimd.pixy.test:\(server.port)/oauth/client.json")
        }
        #expect(server.accepted == 1)
    }

    @Test(
        "No connection retries: a server that drops the connection gets exactly one; the host is then left alone for a while, whatever the path",
        .timeLimit(.minutes(1)))
    func oneConnectionAndFailedHostMemory() async throws {
        let server = try await DocumentServer(.drop, certificates: certificates)
        defer { Task { await server.close() } }
        let clock = ManualClock()
        let resolver = loopbackResolver()
        let fetcher = try fetcher(resolver: resolver, clock: clock)
        let base = "https://cimd.pixy.test:\(server.port)"
        await #expect(throws: (any Error).self) { _ = try await fetcher.fetchDocument(at: base + "/a.json") }
        #expect(server.accepted == 1)
        await #expect(throws: HTTPClientMetadataFetcher.FetchError.self) { _ = try await fetcher.fetchDocument(at: base + "/b.json") }
        #expect(server.accepted == 1, "another path on the failed host is not fetched")
        #expect(resolver.lookups.value == 1)
        clock.advance(by: fetcher.hostFailureLifetime + .seconds(1))
        await #expect(throws: (any Error).self) { _ = try await fetcher.fetchDocument(at: base + "/c.json") }
        #expect(server.accepted == 2)
    }

    @Test("A host that does not resolve is not looked up again for a while, whatever the path")
    func unresolvableHostRemembered() async throws {
        let clock = ManualClock()
        let resolver = TableResolver([:])
        let fetcher = try fetcher(resolver: resolver, clock: clock)
        for path in ["/a.json", "/b.json", "/c.json"] {
            await #expect(throws: (any Error).self) { _ = try await fetcher.fetchDocument(at: "https://gone.example.com\(path)") }
        }
        #expect(resolver.lookups.value == 1)
        clock.advance(by: fetcher.hostFailureLifetime + .seconds(1))
        await #expect(throws: (any Error).self) { _ = try await fetcher.fetchDocument(at: "https://gone.example.com/d.json") }
        #expect(resolver.lookups.value == 2)
    }

    @Test("A name server that never answers fails the fetch at the deadline", .timeLimit(.minutes(1)))
    func silentResolverHitsDeadline() async throws {
        let resolver = SilentResolver()
        await #expect(throws: HTTPClientMetadataFetcher.FetchError.self) {
            _ = try await fetcher(resolver: resolver, deadline: .seconds(1)).fetchDocument(at: "https://slow-dns.example.com/c.json")
        }
        #expect(resolver.lookups.value == 1)
    }

    @Test(
        "At most N fetches in flight: the next one fails at once with MetadataFetchUnavailable, without queueing", .timeLimit(.minutes(1)))
    func inFlightCap() async throws {
        let resolver = GatedResolver()
        let fetcher = try fetcher(resolver: resolver, maximumConcurrentFetches: 2)
        let first = Task { try await fetcher.fetchDocument(at: "https://one.example.com/c.json") }
        let second = Task { try await fetcher.fetchDocument(at: "https://two.example.com/c.json") }
        try await waitUntil { resolver.entered.value == 2 }
        await #expect(throws: MetadataFetchUnavailable.self) { _ = try await fetcher.fetchDocument(at: "https://three.example.com/c.json") }
        #expect(resolver.entered.value == 2, "the refused fetch did not start")
        resolver.open()
        _ = await first.result
        _ = await second.result
        #expect(fetcher.fetchesInFlight == 0)
        await #expect(throws: TestFailure.self) { _ = try await fetcher.fetchDocument(at: "https://four.example.com/c.json") }
        #expect(resolver.entered.value == 3, "capacity is given back")
    }

    @Test(
        "getaddrinfo runs off Swift's cooperative pool: lookups that block their threads do not stall other tasks", .timeLimit(.minutes(1)))
    func resolutionOffCooperativePool() async throws {
        // More blocked lookups than the cooperative pool has threads: were they on it, nothing
        // else could run. A watchdog thread (outside the pool) turns that hang into a failure.
        let width = ProcessInfo.processInfo.activeProcessorCount + 2
        let gate = DispatchSemaphore(value: 0)
        let started = Counter()
        let resolver = SystemHostResolver(maximumConcurrentLookups: width) { _, _ in
            started.increment()
            gate.wait()
            throw TestFailure("no answer")
        }
        let fetcher = try fetcher(resolver: resolver, deadline: .seconds(600), maximumConcurrentFetches: width)
        let probed = DispatchSemaphore(value: 0)
        let frozen = Mutex(false)
        let watchdog = Thread {
            if probed.wait(timeout: .now() + 45) == .timedOut {
                frozen.withLock { $0 = true }
                for _ in 0..<width { gate.signal() }
            }
        }
        watchdog.start()
        let fetches = (0..<width).map { index in
            Task { try await fetcher.fetchDocument(at: "https://host\(index).example.com/c.json") }
        }
        try await waitUntil { started.value == width }
        let probe = await Task.detached { 40 + 2 }.value
        probed.signal()
        #expect(probe == 42)
        #expect(!frozen.withLock { $0 }, "blocked lookups froze the cooperative pool")
        #expect(resolver.lookupsInProgress == width)
        for _ in 0..<width { gate.signal() }
        for fetch in fetches { _ = await fetch.result }
        try await waitUntil { resolver.lookupsInProgress == 0 }
    }

    @Test(
        "The system resolver caps lookups in progress (abandoned ones included) and refuses beyond, without queueing",
        .timeLimit(.minutes(1)))
    func resolverCap() async throws {
        let gate = DispatchSemaphore(value: 0)
        let started = Counter()
        let resolver = SystemHostResolver(maximumConcurrentLookups: 1) { _, _ in
            // Only the first lookup blocks, so a resolver without the cap answers the second
            // (and the test fails) instead of hanging.
            if started.increment() == 1 { gate.wait() }
            return []
        }
        let first = Task { try await resolver.addresses(of: "a.example.com", port: 443) }
        try await waitUntil { started.value == 1 }
        await #expect(throws: MetadataFetchUnavailable.self) { _ = try await resolver.addresses(of: "b.example.com", port: 443) }
        gate.signal()
        _ = try await first.value
        #expect(started.value == 1)
        let numeric = try await SystemHostResolver().addresses(of: "127.0.0.1", port: 443)
        #expect(numeric.map(\.ipAddress) == ["127.0.0.1"])
    }
}
