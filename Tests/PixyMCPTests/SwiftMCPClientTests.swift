import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import PixyTesting
import Synchronization
import Testing

/// The Swift MCP SDK's client against live processes: `pixy serve` over TLS (the SDK refuses an
/// authorization server that is not https), the example MCP server, and the example Swift client
/// (`HTTPClientTransport` + `OAuthAuthorizer`). This test is the user's browser: it reads the
/// client's `AUTHORIZE` lines, signs in on Pixy's pages through the form contract, and follows
/// the final redirect to the client's loopback port.
///
/// Trust: on Linux, URLSession (libcurl) reads only the system CA bundle. The client therefore runs
/// in its own mount namespace (`unshare -m`) where that bundle is replaced by one that also holds
/// this test's throwaway CA; nothing outside that process trusts it. `--map-root-user` makes
/// this work without root where unprivileged user namespaces are allowed (Debian's default).
@Suite("Swift MCP SDK client end to end (docs/mcp.md)", .serialized)
struct SwiftMCPClientTests {
    @Test("MCP auth with the Swift SDK: 401 → PRM → AS metadata → registration → PKCE with resource → tools → expiry → refresh → step-up")
    func swiftSDKClient() async throws {
        let certificates = try TestCertificateAuthority()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-swift-mcp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let bundle = work.appendingPathComponent("bundle.pem").path
        let system = (try? String(contentsOfFile: "/etc/ssl/certs/ca-certificates.crt", encoding: .utf8)) ?? ""
        try (system + "\n" + String(contentsOfFile: certificates.caFile, encoding: .utf8)).write(
            toFile: bundle, atomically: true, encoding: .utf8)

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificates.caFile))
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
        do {
            try await exercise(http, certificates: certificates, work: work, bundle: bundle)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    private func exercise(_ http: HTTPClient, certificates: TestCertificateAuthority, work: URL, bundle: String) async throws {
        let data = work.appendingPathComponent("pixy-data").path
        let password = "correct horse battery staple"
        try LiveProcess.run(
            Binaries.pixy, ["users", "add", "alice", "--password-stdin", "--create", "--data-dir", data], stdin: password + "\n")
        let pixyPort = RedisServer.freePort()
        let issuer = "https://127.0.0.1:\(pixyPort)"
        let pixy = try LiveProcess(
            Binaries.pixy,
            [
                "serve", "--port", String(pixyPort), "--data-dir", data, "--tls-cert", certificates.certificateFile,
                "--tls-key", certificates.keyFile, "--access-token-ttl", "5",
            ])
        defer { pixy.stop() }
        try await waitForHealth(http, "\(issuer)/health")
        let mcpPort = RedisServer.freePort()
        let example = try LiveProcess(
            Binaries.exampleServer,
            [
                "--issuer", issuer, "--port", String(mcpPort), "--issuer-ca-file", certificates.caFile,
                "--clock-skew", "0",
            ])
        defer { example.stop() }
        try await waitForHealth(http, "http://127.0.0.1:\(mcpPort)/health")

        let script = """
            [ -f /etc/ssl/certs/ca-certificates.crt ] || { mkdir -p /etc/ssl/certs; : > /etc/ssl/certs/ca-certificates.crt; }
            mount --bind '\(bundle)' /etc/ssl/certs/ca-certificates.crt && exec '\(Binaries.exampleClient)' \
            --server http://127.0.0.1:\(mcpPort)/mcp --call whoami --call list_notes --call 'add_note={"text":"from swift"}' \
            --call list_notes --wait-between-calls 6
            """
        let client = try LiveProcess("/usr/bin/unshare", ["--map-root-user", "--mount", "sh", "-c", script])
        defer { client.stop() }

        var lines: [String] = []
        var signIns = 0
        for try await line in client.lines {
            lines.append(line)
            guard line.hasPrefix("AUTHORIZE ") else { continue }
            signIns += 1
            let location = try await signIn(http, String(line.dropFirst("AUTHORIZE ".count)), password: password)
            #expect(location.hasPrefix("http://127.0.0.1:"), "the redirect goes to the client's loopback port")
            let iss = URLComponents(string: location)?.queryItems?.first { $0.name == "iss" }?.value
            #expect(iss == issuer, "RFC 9207 iss in the response")
            let callback = try await http.execute(HTTPClientRequest(url: location), timeout: .seconds(60))
            #expect(callback.status == .ok)
        }
        let exit = client.waitForExit()
        let output = lines.joined(separator: "\n")
        #expect(exit == 0, "client output:\n\(output)")
        #expect(lines.contains { $0.hasPrefix("REGISTERED ") }, "dynamic registration")
        #expect(lines.contains("TOOLS add_note list_notes whoami"))
        #expect(lines.contains { $0.hasPrefix("RESULT whoami user ") && $0.hasSuffix("scopes read") }, "\(output)")
        #expect(lines.contains("REFRESHED"), "the expired access token was refreshed, not re-authorized: \(output)")
        #expect(lines.contains("RESULT add_note saved note 1"), "step-up to read write: \(output)")
        #expect(lines.contains("RESULT list_notes 1. from swift"))
        #expect(signIns == 2, "one sign-in, one step-up; the refresh needed none: \(output)")
    }

    private func waitForHealth(_ http: HTTPClient, _ url: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)  // only turns a hang into a failure
        while ContinuousClock.now < deadline {
            if let response = try? await http.execute(HTTPClientRequest(url: url), timeout: .seconds(5)), response.status == .ok { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LiveProcess.Failure(description: "\(url) never answered")
    }

    /// The browser: follows Pixy's pages through the form contract until it redirects to the client.
    private func signIn(_ http: HTTPClient, _ url: String, password: String) async throws -> String {
        let origin = url.components(separatedBy: "/authorize").first!
        var cookie: String?
        var response = try await get(http, url, cookie: cookie)
        for _ in 0..<6 {
            if let setCookie = response.headers.first(name: "set-cookie"), setCookie.hasPrefix("__Host-pixy_session=") {
                cookie = String(setCookie.prefix { $0 != ";" })
            }
            guard let location = response.headers.first(name: "location") else {
                throw LiveProcess.Failure(description: "no redirect from Pixy: \(response.status)")
            }
            guard location.hasPrefix("/") else { return location }
            let page = try await get(http, origin + location, cookie: cookie)
            let html = String(buffer: try await page.body.collect(upTo: 1 << 20))
            let csrf = try #require(html.firstMatch(of: /name="csrf_token" value="([^"]+)"/)?.1)
            let action = try #require(html.firstMatch(of: /<form method="post" action="([^"]+)"/)?.1).replacingOccurrences(
                of: "&amp;", with: "&")
            let form =
                html.contains("name=\"password\"")
                ? "username=alice&password=\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&csrf_token=\(csrf)"
                : "csrf_token=\(csrf)&decision=approve"
            var request = HTTPClientRequest(url: origin + action)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            request.body = .bytes(ByteBuffer(string: form))
            response = try await http.execute(request, timeout: .seconds(60))
        }
        throw LiveProcess.Failure(description: "too many redirects")
    }

    private func get(_ http: HTTPClient, _ url: String, cookie: String?) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        return try await http.execute(request, timeout: .seconds(60))
    }
}

/// Where `swift build` put the executables this test runs.
enum Binaries {
    static let directory: String = {
        // Tests/PixyMCPTests/<this file> → the package root → .build/debug (or PIXY_BIN_DIR).
        if let configured = ProcessInfo.processInfo.environment["PIXY_BIN_DIR"] { return configured }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }()
    static var pixy: String { directory + "/pixy" }
    static var exampleServer: String { directory + "/pixy-example-mcp" }
    static var exampleClient: String { directory + "/pixy-example-mcp-client" }
}

/// A child process with its output as lines, stopped by its PID (POSIX kill/waitpid; Foundation's
/// `waitUntilExit` hangs inside async tests on Linux).
final class LiveProcess: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private let process = Process()
    let lines: AsyncThrowingStream<String, any Error>

    init(_ executable: String, _ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Failure(description: "\(executable) not found: run `swift build` first (scripts/test does)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream()
        lines = stream
        let buffer = Mutex(Data())
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            let complete: [String] = buffer.withLock { data in
                data.append(chunk)
                var found: [String] = []
                while let newline = data.firstIndex(of: UInt8(ascii: "\n")) {
                    found.append(String(decoding: data[data.startIndex..<newline], as: UTF8.self))
                    data.removeSubrange(data.startIndex...newline)
                }
                return found
            }
            for line in complete { continuation.yield(line) }
        }
        try process.run()
    }

    /// Runs a command to completion; throws unless it exits 0.
    static func run(_ executable: String, _ arguments: [String], stdin: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        guard wait(for: process, seconds: 60) == 0 else { throw Failure(description: "\(executable) \(arguments.first ?? "") failed") }
    }

    /// Polls until `process` ends (Foundation reaps it and records the status); nil on timeout.
    private static func wait(for process: Process, seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            guard Date() < deadline else { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return process.terminationStatus
    }

    /// Waits (bounded) for the exit status.
    func waitForExit(seconds: Double = 60) -> Int32? {
        Self.wait(for: process, seconds: seconds)
    }

    /// SIGTERM, then SIGKILL if it lingers.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if Self.wait(for: process, seconds: 10) == nil {
            kill(process.processIdentifier, SIGKILL)
            _ = Self.wait(for: process, seconds: 5)
        }
    }
}
