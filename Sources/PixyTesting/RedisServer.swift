public import Foundation

/// A real `redis-server` for tests: started on a free loopback port in a temporary directory,
/// stopped by its PID (POSIX kill/waitpid: Foundation's Process cannot be waited for inside an
/// async test on Linux). Missing Redis is a failure, never a skip (scripts/test installs it).
public final class RedisServer: @unchecked Sendable {
    /// The loopback port it listens on.
    public let port: Int
    /// The `requirepass` password, if any.
    public let password: String?
    /// Extra `redis-server` arguments (e.g. `["--maxmemory-policy", "allkeys-lru"]`).
    public let extraArguments: [String]
    private var process: Process?
    /// The working directory (AOF and RDB files, certificates).
    public let directory: URL

    /// Whether the port speaks TLS only.
    public let usesTLS: Bool

    /// Starts a server; `extraArguments` are appended to the safe test defaults. With `tls`, the
    /// port speaks TLS only, with a certificate that authority issued for 127.0.0.1.
    public init(password: String? = nil, extraArguments: [String] = [], tls: TestCertificateAuthority? = nil) throws {
        let port = Self.freePort()
        self.port = port
        self.password = password
        usesTLS = tls != nil
        self.extraArguments =
            extraArguments
            + (tls.map { tls in
                [
                    "--tls-port", String(port), "--tls-cert-file", tls.certificateFile, "--tls-key-file", tls.keyFile,
                    "--tls-ca-cert-file", tls.caFile, "--tls-auth-clients", "no",
                ]
            } ?? [])
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    /// `redis://[:password@]127.0.0.1:<port>`.
    public var url: String {
        let scheme = usesTLS ? "rediss" : "redis"
        return password.map { "\(scheme)://:\($0)@127.0.0.1:\(port)" } ?? "\(scheme)://127.0.0.1:\(port)"
    }

    /// One server shared by a whole test process (stores on it use distinct key prefixes);
    /// killed when the process exits.
    public static let shared: RedisServer = {
        let server = try! RedisServer()
        sharedPID.withLock { $0 = server.process?.processIdentifier ?? 0 }
        atexit {
            let pid = RedisServer.sharedPID.withLock { $0 }
            if pid > 0 { kill(pid, SIGKILL) }
        }
        return server
    }()

    private static let sharedPID = NSLockedValue<Int32>(0)

    /// Starts (or restarts, on the same port and directory) the server.
    public func start() throws {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let binary else { throw RedisError.missingServer }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var arguments = [
            "--port", usesTLS ? "0" : String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
            "--maxmemory-policy", "noeviction",
        ]
        if let password { arguments += ["--requirepass", password] }
        arguments += extraArguments
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Wait until it accepts connections (bounded: 60 s, only against a hang).
        for _ in 0..<1200 {
            if Self.canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw RedisError.notStarted
    }

    /// SIGTERM, then wait (bounded) for the exit. Not `waitUntilExit()`: on Linux it waits on a
    /// run loop that never turns inside an async test, and hangs.
    public func stop() {
        guard let process else { return }
        self.process = nil
        let pid = process.processIdentifier
        // SIGKILL, not SIGTERM: redis-server spawned from the test process inherits an ignored
        // SIGTERM and would not stop. These servers keep nothing on disk, so nothing is lost.
        kill(pid, SIGKILL)
        for _ in 0..<400 {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped == -1 && errno == ECHILD) || kill(pid, 0) != 0 { return }
            Thread.sleep(forTimeInterval: 0.025)
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Why a server could not be started.
    public enum RedisError: Error { case missingServer, notStarted }

    /// A loopback port nothing listens on right now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts connections on the loopback port.
    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// A value behind a lock, for the few statics tests share.
final class NSLockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// A throwaway certificate authority and a server certificate it issued for 127.0.0.1 and
/// localhost (P-256, two days), made with the `openssl` tool in a temporary directory.
public struct TestCertificateAuthority: Sendable {
    /// The CA certificate (PEM): what a client must trust.
    public let caFile: String
    /// The server certificate (PEM).
    public let certificateFile: String
    /// The server's private key (PEM).
    public let keyFile: String

    /// Creates the CA and the server certificate.
    public init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        caFile = path("ca.pem")
        certificateFile = path("server.pem")
        keyFile = path("server.key")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: path("ext"), atomically: true, encoding: .utf8)
        for arguments in [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"),
                "-out", caFile, "-days", "2", "-subj", "/CN=Pixy Test CA",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", path("server.csr"),
                "-subj", "/CN=127.0.0.1",
            ],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", caFile, "-CAkey", path("ca.key"), "-CAcreateserial",
                "-out", certificateFile, "-days", "2", "-extfile", path("ext"),
            ],
        ] {
            try Self.run("/usr/bin/openssl", arguments)
        }
        guard FileManager.default.fileExists(atPath: certificateFile) else { throw Failure.notCreated }
    }

    /// Why the certificates could not be made.
    public enum Failure: Error { case notCreated, timedOut }

    /// Runs a tool and waits for it (POSIX waitpid; see ``RedisServer/stop()`` for why not
    /// `waitUntilExit`).
    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        for _ in 0..<2400 {  // 60 s, only against a hang
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped == -1 && errno == ECHILD) || !process.isRunning { return }
            Thread.sleep(forTimeInterval: 0.025)
        }
        throw Failure.timedOut
    }
}
