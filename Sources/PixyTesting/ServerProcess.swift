public import Foundation

/// A server process a test started: found by PID, stopped by signal and reaped with `waitpid`
/// (Foundation's `waitUntilExit()` hangs inside async tests on Linux).
final class ServerProcess: @unchecked Sendable {
    let pid: Int32

    /// Starts `executable` with `arguments`, output discarded.
    init(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        pid = process.processIdentifier
    }

    /// Sends `signal`, then SIGKILL if the process has not exited within `grace` seconds.
    func stop(signal: Int32 = SIGKILL, grace: Double = 10) {
        kill(pid, signal)
        let rounds = Int(grace / 0.025)
        for round in 0..<(rounds + 400) {
            if round == rounds { kill(pid, SIGKILL) }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped == -1 && errno == ECHILD) || kill(pid, 0) != 0 { return }
            Thread.sleep(forTimeInterval: 0.025)
        }
    }

    /// Runs a command to its end and returns its exit status (bounded: 120 s, only against a hang).
    static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<4800 {
            if !process.isRunning { return process.terminationStatus }
            Thread.sleep(forTimeInterval: 0.025)
        }
        process.terminate()
        throw TestFailure("\(executable) did not finish within 120 s")
    }

    /// Waits (bounded: 60 s, only against a hang) until something accepts connections on `port`.
    static func waitUntilListening(port: Int) throws {
        for _ in 0..<1200 {
            if RedisServer.canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestFailure("nothing listens on 127.0.0.1:\(port) after 60 s")
    }

    /// The first of `candidates` that is an executable file.
    static func find(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `executable` and `arguments`, run as `nobody` through `setpriv` (which execs, so the PID is
    /// the server's own) when the tests run as root: PostgreSQL refuses to run as root.
    static func unprivileged(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard geteuid() == 0 else { return (executable, arguments) }
        return ("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", executable] + arguments)
    }

    private static let leftovers = NSLockedValue<(pids: [Int32], directories: [String])?>(nil)

    /// Kills `pid` and removes `directory` when the test process exits: shared servers live in
    /// statics, which are never released.
    static func cleanUpAtExit(pid: Int32, directory: String? = nil) {
        let isFirst = leftovers.withLock { state -> Bool in
            let isFirst = state == nil
            var current = state ?? ([], [])
            current.pids.append(pid)
            if let directory { current.directories.append(directory) }
            state = current
            return isFirst
        }
        guard isFirst else { return }
        atexit {
            guard let state = ServerProcess.leftovers.withLock({ $0 }) else { return }
            for pid in state.pids { kill(pid, SIGKILL) }
            for directory in state.directories { try? FileManager.default.removeItem(atPath: directory) }
        }
    }
}

/// A real `memcached` for tests, on a free loopback port. Missing Memcached is a failure, never a
/// skip (scripts/test installs it).
public final class MemcachedServer: @unchecked Sendable {
    /// The loopback port.
    public let port: Int
    private var process: ServerProcess?
    private let extraArguments: [String]

    /// Starts a server; `extraArguments` are appended (e.g. `["-C"]` to disable CAS).
    public init(extraArguments: [String] = []) throws {
        port = RedisServer.freePort()
        self.extraArguments = extraArguments
        try start()
    }

    /// `memcached://127.0.0.1:<port>`.
    public var url: String { "memcached://127.0.0.1:\(port)" }

    /// One server shared by a whole test process (stores on it use distinct key prefixes).
    public static let shared: MemcachedServer = try! MemcachedServer()

    /// Starts (or restarts, on the same port, empty) the server.
    public func start() throws {
        guard let binary = ServerProcess.find(["/usr/bin/memcached", "/usr/local/bin/memcached"]) else {
            throw TestFailure("memcached is not installed (scripts/install-deps --test installs it)")
        }
        var arguments = ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-m", "64", "-c", "4096"]
        if geteuid() == 0 { arguments += ["-u", "nobody"] }
        let process = try ServerProcess(binary, arguments + extraArguments)
        self.process = process
        ServerProcess.cleanUpAtExit(pid: process.pid)
        try ServerProcess.waitUntilListening(port: port)
    }

    /// Kills the server (everything it held is gone).
    public func stop() {
        process?.stop()
        process = nil
    }

    deinit { stop() }
}

/// A real PostgreSQL cluster for tests: `initdb` into a temporary directory and `postgres` on a
/// free loopback port, both as `nobody` when the tests run as root (PostgreSQL refuses to run
/// as root); trust authentication for the user `pixy` on loopback only. Missing PostgreSQL is a
/// failure, never a skip (scripts/test installs it).
public final class PostgresServer: @unchecked Sendable {
    /// The loopback port.
    public let port: Int
    /// The cluster's directory (removed when the server is released).
    public let directory: URL
    private var process: ServerProcess?
    private let binaries: URL

    /// Creates a cluster and starts it.
    public init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }).last else {
            throw TestFailure("PostgreSQL is not installed (scripts/install-deps --test installs it)")
        }
        binaries = URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin")
        port = RedisServer.freePort()
        directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pixy-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if geteuid() == 0 { chown(directory.path, 65534, 65534) }
        let (initdb, arguments) = ServerProcess.unprivileged(
            binaries.appendingPathComponent("initdb").path,
            ["-D", directory.appendingPathComponent("data").path, "-U", "pixy", "--auth=trust", "-E", "UTF8", "--no-sync"])
        let status = try ServerProcess.run(initdb, arguments)
        guard status == 0 else { throw TestFailure("initdb failed with status \(status)") }
        try start()
    }

    /// `postgres://pixy@127.0.0.1:<port>/<database>?sslmode=disable`.
    public func url(database: String = "postgres") -> String {
        "postgres://pixy@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// One cluster shared by a whole test process; tests take databases of their own
    /// (``createDatabase()``).
    public static let shared: PostgresServer = try! PostgresServer()

    /// Starts (or restarts) the server on the same port and data.
    public func start() throws {
        let postgres = binaries.appendingPathComponent("postgres").path
        let arguments = [
            "-D", directory.appendingPathComponent("data").path, "-p", String(port), "-k", directory.path,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=1000",
        ]
        let (executable, unprivilegedArguments) = ServerProcess.unprivileged(postgres, arguments)
        let process = try ServerProcess(executable, unprivilegedArguments)
        self.process = process
        ServerProcess.cleanUpAtExit(pid: process.pid, directory: directory.path)
        try ServerProcess.waitUntilListening(port: port)
    }

    /// Stops the server: a fast shutdown (SIGINT), or `SIGKILL` to simulate a crash.
    public func stop(crash: Bool = false) {
        process?.stop(signal: crash ? SIGKILL : SIGINT)
        process = nil
    }

    /// A new empty database on this server, named for the caller; its URL.
    public func createDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        // Retried: a server that just started may still refuse connections while it starts up.
        var status: Int32 = 0
        for _ in 0..<40 {
            status = try ServerProcess.run(
                binaries.appendingPathComponent("createdb").path, ["-h", "127.0.0.1", "-p", String(port), "-U", "pixy", name])
            if status == 0 { return url(database: name) }
            Thread.sleep(forTimeInterval: 0.25)
        }
        throw TestFailure("createdb failed with status \(status)")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
