import Foundation
import PixyRedis

/// A real `redis-server` for tests: started on a free loopback port in a temporary directory,
/// stopped by its PID (POSIX kill/waitpid: Foundation's Process cannot be waited for inside an
/// async test on Linux). Missing Redis is a failure, never a skip (scripts/test installs it).
final class RedisServer: @unchecked Sendable {
    let port: Int
    let password: String?
    private var process: Process?
    private let directory: URL

    init(password: String? = nil) throws {
        port = Self.freePort()
        self.password = password
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    var url: String {
        password.map { "redis://:\($0)@127.0.0.1:\(port)" } ?? "redis://127.0.0.1:\(port)"
    }

    func start() throws {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let binary else { throw RedisError.missingServer }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Wait until it accepts connections (bounded: 10 s).
        for _ in 0..<200 {
            if Self.canConnect(port: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw RedisError.notStarted
    }

    /// SIGTERM, then wait (bounded) for the exit. Not `waitUntilExit()`: on Linux it waits on a
    /// run loop that never turns inside an async test, and hangs.
    func stop() {
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

    enum RedisError: Error { case missingServer, notStarted }

    static func freePort() -> Int {
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

    static func canConnect(port: Int) -> Bool {
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
