import Foundation
import PixyRESP
import PixyTesting
import Testing

@Suite("PixyRESP against a real redis-server", .serialized)
struct RedisLiveTests {
    @Test("Commands, replies and error replies on one connection")
    func basics() async throws {
        let server = try RedisServer()
        let connection = try await RedisConnection.connect(try #require(RedisConfiguration(url: server.url)))
        defer { connection.close() }
        #expect(try await connection.send(["PING"]) == .simpleString("PONG"))
        #expect(try await connection.send(["SET", "auth:code:h", #"{"client_id":"app"}"#, "EX", "60", "NX"]) == .simpleString("OK"))
        #expect(try await connection.send(["SET", "auth:code:h", "other", "EX", "60", "NX"]).isNull, "NX: never overwrite")
        #expect(try await connection.send(["GETDEL", "auth:code:h"]).string == #"{"client_id":"app"}"#)
        #expect(try await connection.send(["GETDEL", "auth:code:h"]).isNull, "consumed exactly once")
        let reply = await #expect(throws: PixyRESP.RedisError.self) { try await connection.send(["NOSUCHCOMMAND"]) }
        #expect(reply?.code == .serverError && reply?.replyCode == "ERR", "an error reply, with Redis' own error code")
        #expect(try await connection.send(["PING"]) == .simpleString("PONG"), "an error reply leaves the connection usable")
    }

    @Test("Pipelining: 300 concurrent commands on one connection each get their own reply")
    func pipelining() async throws {
        let server = try RedisServer()
        let connection = try await RedisConnection.connect(try #require(RedisConfiguration(url: server.url)))
        defer { connection.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<300 {
                group.addTask {
                    let value = try await connection.send(["ECHO", "value-\(index)"])
                    #expect(value.string == "value-\(index)")
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("The pool stays within its bound while 100 commands share it, and of 20 concurrent GETDELs exactly one gets the value")
    func poolBoundAndAtomicConsume() async throws {
        let server = try RedisServer()
        var configuration = try #require(RedisConfiguration(url: server.url))
        configuration.maximumConnections = 3
        let pool = RedisConnectionPool(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { _ = try await pool.send(["INCR", "counter"]) } }
            try await group.waitForAll()
        }
        #expect(try await pool.send(["GET", "counter"]).string == "100")
        #expect(pool.openConnections <= 3)
        _ = try await pool.send(["SET", "auth:code:race", "record", "EX", "60"])
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { try await !pool.send(["GETDEL", "auth:code:race"]).isNull } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        pool.close()
    }

    @Test("AUTH with a password and SELECT of a database index")
    func authAndDatabase() async throws {
        let server = try RedisServer(password: "s3cret pass")
        let url = "redis://:s3cret%20pass@127.0.0.1:\(server.port)/3"
        let connection = try await RedisConnection.connect(try #require(RedisConfiguration(url: url)))
        defer { connection.close() }
        _ = try await connection.send(["SET", "k", "in-db-3"])
        let other = try await RedisConnection.connect(
            try #require(RedisConfiguration(url: "redis://:s3cret%20pass@127.0.0.1:\(server.port)/0")))
        defer { other.close() }
        #expect(try await other.send(["GET", "k"]).isNull, "databases are separate")
        let wrongPassword = await #expect(throws: PixyRESP.RedisError.self) {
            _ = try await RedisConnection.connect(try #require(RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(server.port)")))
        }
        #expect(wrongPassword?.code == .serverError && wrongPassword?.replyCode == "WRONGPASS")
        let unauthenticated = try await RedisConnection.connect(try #require(RedisConfiguration(url: "redis://127.0.0.1:\(server.port)")))
        defer { unauthenticated.close() }
        let refused = await #expect(throws: PixyRESP.RedisError.self) { try await unauthenticated.send(["GET", "k"]) }
        #expect(refused?.replyCode == "NOAUTH")
    }

    @Test("When Redis goes away commands fail; when it returns, the pool recovers by itself")
    func recovery() async throws {
        let server = try RedisServer()
        let pool = RedisConnectionPool(configuration: try #require(RedisConfiguration(url: server.url)))
        #expect(try await pool.send(["PING"]) == .simpleString("PONG"))
        server.stop()
        await #expect(throws: (any Error).self) { try await pool.send(["PING"]) }
        // While the server is down, callers fail fast (backoff) rather than each waiting for a
        // connect. Shown by what happens, not by how long it takes: a pool whose backoff outlasts
        // any run of this test tries each slot's connect once, then fails every call with the
        // backoff error and no connect attempt.
        var patient = try #require(RedisConfiguration(url: server.url))
        patient.initialReconnectDelay = .seconds(3600)
        patient.maximumReconnectDelay = .seconds(3600)
        let backingOff = RedisConnectionPool(configuration: patient)
        for _ in 0..<patient.maximumConnections {
            await #expect(throws: (any Error).self) { try await backingOff.send(["PING"]) }
        }
        for _ in 0..<20 {
            do {
                _ = try await backingOff.send(["PING"])
                Issue.record("a command succeeded while Redis was down")
            } catch {
                #expect((error as? PixyRESP.RedisError)?.code == .backingOff, "failed fast, without a connect attempt: \(error)")
            }
        }
        backingOff.close()
        try server.start()
        // Recovery by itself (the longest backoff is 1 s), with no help from the caller; the
        // deadline only turns a hang into a failure.
        var recovered = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !recovered, ContinuousClock.now < deadline {
            recovered = (try? await pool.send(["PING"])) == .simpleString("PONG")
            if !recovered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(recovered)
        pool.close()
    }

    @Test("A batch is written as one unit: MULTI … EXEC from one caller is never split by another's commands")
    func batchesAreContiguous() async throws {
        let server = try RedisServer()
        let connection = try await RedisConnection.connect(try #require(RedisConfiguration(url: server.url)))
        defer { connection.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask {
                    let replies = try await connection.send(batch: [["MULTI"], ["SET", "k\(index)", "v"], ["INCR", "n"], ["EXEC"]])
                    guard case .array(let results?) = replies.last else { Issue.record("EXEC reply: \(replies)"); return }
                    #expect(results.count == 2)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await connection.send(["GET", "n"]).string == "100")
    }

    @Test("rediss://: TLS with a private CA file; without trusting that CA the connection is refused")
    func tls() async throws {
        let certificates = try TestCertificateAuthority()
        let server = try RedisServer(tls: certificates)
        var configuration = try #require(RedisConfiguration(url: server.url))
        #expect(configuration.usesTLS)
        await #expect(throws: (any Error).self) { try await RedisConnection.connect(configuration).close() }
        configuration.trustedCAFile = certificates.caFile
        let connection = try await RedisConnection.connect(configuration)
        defer { connection.close() }
        #expect(try await connection.send(["PING"]) == .simpleString("PONG"))
    }

    @Test("URL forms: redis://, rediss://, user and password, database, IPv6")
    func urls() throws {
        let plain = try #require(RedisConfiguration(url: "redis://cache.internal"))
        #expect(plain.host == "cache.internal" && plain.port == 6379 && !plain.usesTLS && plain.database == 0)
        let full = try #require(RedisConfiguration(url: "rediss://pixy:p%40ss@cache.internal:6380/2"))
        #expect(full.usesTLS && full.username == "pixy" && full.password == "p@ss" && full.port == 6380 && full.database == 2)
        let v6 = try #require(RedisConfiguration(url: "redis://[::1]:7000"))
        #expect(v6.host == "::1" && v6.port == 7000)
        #expect(RedisConfiguration(url: "http://cache.internal") == nil)
        #expect(RedisConfiguration(url: "redis://cache.internal:99999") == nil)
        #expect(RedisConfiguration(url: "redis://cache.internal/x") == nil)
    }

    @Test("A reply slower than the command timeout fails the command and closes the connection (later replies could not be matched)")
    func commandTimeout() async throws {
        let server = try RedisServer()
        var configuration = try #require(RedisConfiguration(url: server.url))
        configuration.commandTimeout = .milliseconds(300)
        let connection = try await RedisConnection.connect(configuration)
        // BLPOP would answer (nil) after 60 s: a failure well before that is the command timeout,
        // however busy the machine. The upper bound only tells the two apart.
        let start = ContinuousClock.now
        await #expect(throws: PixyRESP.RedisError.timedOut("command timed out")) {
            try await connection.send(["BLPOP", "never-filled", "60"])
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(45), "\(elapsed)")
        // The close completes on the event loop: wait for it (bounded only against a hang).
        let closedBy = ContinuousClock.now + .seconds(30)
        while connection.isActive, ContinuousClock.now < closedBy { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!connection.isActive)
        let fresh = try await RedisConnection.connect(configuration)
        defer { fresh.close() }
        #expect(try await fresh.send(["PING"]) == .simpleString("PONG"), "fast commands are unaffected")
    }
}
