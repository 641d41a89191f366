import Foundation
import Logging
import PixyCore
import PixyJWT
import PixyModel
import PixyRedis
import PixyRESP
import PixyServer
import PixyTesting
import Testing

/// What only the Redis store has to prove: its key layout, sharing one Redis, surviving Redis
/// restarts, failing closed, and refusing an unsafe Redis. The shared promises are in
/// Tests/PixyStorageTests/StorageConformanceTests.swift, run on Redis too.
@Suite("Redis store", .serialized)
struct RedisStoreTests {
    @Test("Spec layout: a code is stored as auth:code:<sha256> with a TTL no longer than its lifetime, under the global prefix")
    func codeKeyLayout() async throws {
        let clock = ManualClock()
        let store = redisStore(clock: clock, prefix: "deploy-a:")
        let code = SecureRandom.token()
        let hash = SecretHash.sha256Hex(code)
        try await store.storeCode(sampleCode(clock: clock), codeHash: hash, ttl: .seconds(60))
        let ttl = try await store.pool.send(["PTTL", "deploy-a:auth:code:\(hash)"])
        guard case .integer(let milliseconds) = ttl else { Issue.record("PTTL reply \(ttl)"); return }
        #expect(milliseconds > 0 && milliseconds <= 60_000)
        #expect(try await store.pool.send(["EXISTS", "auth:code:\(hash)"]) == .integer(0), "nothing outside the prefix")
        _ = try await store.consumeCode(codeHash: hash)
        #expect(try await store.pool.send(["EXISTS", "deploy-a:auth:code:\(hash)"]) == .integer(0))
    }

    @Test("A global prefix keeps two deployments on one Redis apart")
    func prefixesIsolate() async throws {
        let clock = ManualClock()
        let first = redisStore(clock: clock, prefix: "first-\(UUID().uuidString):")
        let second = redisStore(clock: clock, prefix: "second-\(UUID().uuidString):")
        try await first.save(Client(clientID: "shared-name", redirectURIs: ["https://a.example/cb"], createdAt: clock.now()))
        try await first.save(User(id: "u1", username: "admin", passwordHash: "h", createdAt: clock.now()))
        #expect(try await second.client(withID: "shared-name") == nil)
        #expect(try await second.allClients().isEmpty)
        #expect(try await second.user(named: "admin") == nil)
        try await second.save(User(id: "u2", username: "admin", passwordHash: "h", createdAt: clock.now()))
        #expect(try await first.user(named: "admin")?.id == "u1")
    }

    @Test("§10: no plaintext code, refresh token or client secret reaches Redis; their hashes are the keys")
    func noPlaintextInRedis() async throws {
        let clock = ManualClock()
        let prefix = "plain-\(UUID().uuidString):"
        let store = redisStore(clock: clock, prefix: prefix)
        let code = SecureRandom.token()
        let secret = SecureRandom.token()
        let refreshToken = SecureRandom.token()
        try await store.storeCode(sampleCode(clock: clock), codeHash: SecretHash.sha256Hex(code), ttl: .seconds(60))
        try await store.save(
            Client(
                clientID: "c", redirectURIs: ["https://a.example/cb"], tokenEndpointAuthMethod: .clientSecretBasic,
                secretHash: SecretHash.sha256Hex(secret), createdAt: clock.now()))
        try await store.createGrant(sampleGrant(clock: clock, tokenHash: SecretHash.sha256Hex(refreshToken)))
        var everything = ""
        guard case .array(let keys?) = try await store.pool.send(["KEYS", prefix + "*"]) else { Issue.record("KEYS"); return }
        for key in keys.compactMap(\.string) {
            everything += key + "\n"
            if let dump = try await store.pool.send(["DUMP", key]).string { everything += dump + "\n" }
        }
        #expect(keys.count >= 5)
        for plaintext in [code, secret, refreshToken] { #expect(!everything.contains(plaintext)) }
        #expect(everything.contains("auth:code:" + SecretHash.sha256Hex(code)))
        #expect(everything.contains("auth:rt:" + SecretHash.sha256Hex(refreshToken)))
    }

    @Test(
        "§10: with Redis down every call fails as 'unavailable'; with AOF, after a restart nothing durable is lost and no consumed code returns"
    )
    func outageAndRestart() async throws {
        let server = try RedisServer(extraArguments: ["--appendonly", "yes", "--appendfsync", "always"])
        let clock = ManualClock()
        let store = RedisStore(configuration: RedisConfiguration(url: server.url)!, clock: clock)
        let client = Client(
            clientID: "durable", redirectURIs: ["https://a.example/cb"], isDynamicallyRegistered: true, createdAt: clock.now())
        try await store.save(client)
        try await store.createGrant(sampleGrant(clock: clock))
        try await store.storeCode(sampleCode(clock: clock), codeHash: "consumed", ttl: .seconds(60))
        try await store.storeCode(sampleCode(clock: clock), codeHash: "live", ttl: .seconds(60))
        #expect(try await store.consumeCode(codeHash: "consumed") != nil)

        server.stop()  // SIGKILL: no chance to save anything more
        for attempt in 0..<3 {
            do {
                _ = try await store.consumeCode(codeHash: "live")
                Issue.record("a call succeeded during the outage (attempt \(attempt))")
            } catch let error as StorageError {
                #expect(error.code == .unavailable && error.isUnavailable, "\(error)")
            }
        }
        let refused = await #expect(throws: StorageError.self) { try await store.save(client) }
        #expect(refused?.code == .unavailable)

        try server.start()
        var client_: Client?
        let deadline = ContinuousClock.now + .seconds(60)  // only turns a hang into a failure
        while client_ == nil, ContinuousClock.now < deadline {
            client_ = try? await store.client(withID: "durable")
            if client_ == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(client_ == client, "the pool reconnected by itself and the client survived")
        #expect(try await store.grant(withID: "g1") == sampleGrant(clock: clock))
        #expect(try await store.consumeCode(codeHash: "consumed") == nil, "a code consumed before the crash stays consumed")
        #expect(try await store.consumeCode(codeHash: "live") != nil, "the outage consumed nothing")
    }

    @Test("Scripts are re-sent when Redis forgot them (a restart flushes the script cache)")
    func scriptCacheFlushed() async throws {
        let clock = ManualClock()
        let store = redisStore(clock: clock)
        try await store.createGrant(sampleGrant(clock: clock))
        _ = try await store.pool.send(["SCRIPT", "FLUSH"])
        let generation = try await store.updateGrant(id: "g1") { grant -> GrantUpdate<Int> in
            grant.generation += 1
            return .save(grant.generation, newTokenHash: "rt-hash-2")
        }
        #expect(generation == 2)
        #expect(try await store.updateGrant(refreshTokenHash: "rt-hash-2") { grant -> GrantUpdate<Int> in .keep(grant.generation) } == 2)
    }

    @Test("Processes starting together on an empty Redis create one signing key between them")
    func oneFirstKey() async throws {
        let clock = ManualClock()
        let prefix = "keys-\(UUID().uuidString):"
        let kids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask { try await SigningKeyRing.load(from: redisStore(clock: clock, prefix: prefix), clock: clock).currentKeyID }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(kids.count == 1)
        #expect(try await redisStore(clock: clock, prefix: prefix).allSigningKeys().count == 1)
    }

    @Test(
        "docs/security.md §10: a Redis that may evict is refused unless explicitly allowed, then with a loud warning; no persistence is warned about"
    )
    func evictionPolicyChecked() async throws {
        let server = try RedisServer(extraArguments: ["--maxmemory-policy", "allkeys-lru"])
        var configuration = Configuration()
        try configuration.setStore(server.url)
        let logs = LogCapture()
        await #expect(throws: Configuration.Invalid.self) {
            _ = try await StoreFactory.open(configuration, clock: ManualClock(), logger: logs.logger())
        }
        configuration.allowsRedisEviction = true
        let opened = try await StoreFactory.open(configuration, clock: ManualClock(), logger: logs.logger())
        #expect(logs.allLines.contains { $0.contains("REDIS MAY EVICT") })
        #expect(logs.allLines.contains { $0.contains("persists nothing") })
        #expect(try await opened.stores.clients.allClients().isEmpty)

        let safe = try RedisServer(extraArguments: ["--appendonly", "yes"])
        try configuration.setStore(safe.url)
        configuration.allowsRedisEviction = false
        let quiet = LogCapture()
        _ = try await StoreFactory.open(configuration, clock: ManualClock(), logger: quiet.logger())
        #expect(!quiet.allLines.contains { $0.contains("EVICT") || $0.contains("persists nothing") })
    }

    @Test("Deployment facts are read from INFO and CONFIG")
    func deploymentParsing() async throws {
        let server = try RedisServer(extraArguments: ["--appendonly", "yes", "--save", "900 1"])
        let store = RedisStore(configuration: RedisConfiguration(url: server.url)!)
        let deployment = try await store.inspectDeployment()
        #expect(deployment.evictionPolicy == "noeviction")
        #expect(!deployment.mayEvict)
        #expect(deployment.isAppendOnly)
        #expect(deployment.snapshotRules == "900 1")
        #expect(deployment.supportsGETDEL)
        store.pool.close()
    }
}
