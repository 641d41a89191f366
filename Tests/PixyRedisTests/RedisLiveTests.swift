import Foundation
import PixyRedis
import Testing

@Suite("PixyRedis against a real redis-server", .serialized)
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
        await #expect(throws: PixyRedis.RedisError.self) { try await connection.send(["NOSUCHCOMMAND"]) }
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

    @Test("The pool stays within its bound, and of 20 concurrent GETDELs exactly one gets the value")
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
        #expect(await pool.openConnections <= 3)
        _ = try await pool.send(["SET", "auth:code:race", "record", "EX", "60"])
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { try await !pool.send(["GETDEL", "auth:code:race"]).isNull } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        await pool.close()
    }

    @Test("AUTH with a password and SELECT of a database index")
    func authAndDatabase() async throws {
        let server = try RedisServer(password: "s3cret pass")
        let url = "redis://:s3cret%20pass@127.0.0.1:\(server.port)/3"
        let connection = try await RedisConnection.connect(try #require(RedisConfiguration(url: url)))
        defer { connection.close() }
        _ = try await connection.send(["SET", "k", "in-db-3"])
        let other = try await RedisConnection.connect(try #require(RedisConfiguration(url: "redis://:s3cret%20pass@127.0.0.1:\(server.port)/0")))
        defer { other.close() }
        #expect(try await other.send(["GET", "k"]).isNull, "databases are separate")
        await #expect(throws: PixyRedis.RedisError.self) {
            _ = try await RedisConnection.connect(try #require(RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(server.port)")))
        }
        let unauthenticated = try await RedisConnection.connect(try #require(RedisConfiguration(url: "redis://127.0.0.1:\(server.port)")))
        defer { unauthenticated.close() }
        await #expect(throws: PixyRedis.RedisError.self) { try await unauthenticated.send(["GET", "k"]) }
    }

    @Test("When Redis goes away commands fail; when it returns, the pool recovers by itself")
    func recovery() async throws {
        let server = try RedisServer()
        let pool = RedisConnectionPool(configuration: try #require(RedisConfiguration(url: server.url)))
        #expect(try await pool.send(["PING"]) == .simpleString("PONG"))
        server.stop()
        await #expect(throws: (any Error).self) { try await pool.send(["PING"]) }
        await #expect(throws: (any Error).self) { try await pool.send(["PING"]) }
        try server.start()
        #expect(try await pool.send(["PING"]) == .simpleString("PONG"))
        await pool.close()
    }
}
