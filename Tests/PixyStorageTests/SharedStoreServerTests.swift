import Foundation
import Logging
import PixyCore
import PixyMemcached
import PixyModel
import PixyPostgres
import PostgresNIO
import PixyTesting
import Testing

/// Tests assert on errors, not on what the pool logs while a server is away.
let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

@Suite("Memcached: the meta protocol, the ring, and servers that fail")
struct MemcachedServerTests {
    @Test("docs/operations.md, Memcached: only 1.6.13 and later are accepted (conditional delete works from there)")
    func versionGate() {
        func report(_ version: String) -> MemcachedClient.ServerReport {
            MemcachedClient.ServerReport(server: "s", version: version, hasCAS: true)
        }
        #expect(!report("1.6.12").supportsConditionalDelete)
        #expect(!report("1.5.22").supportsConditionalDelete)
        #expect(report("1.6.13").supportsConditionalDelete)
        #expect(report("1.6.18").supportsConditionalDelete)
        #expect(report("1.7.0").supportsConditionalDelete)
        #expect(report("2.0").supportsConditionalDelete)
    }

    @Test("docs/operations.md, Memcached: a server started with CAS disabled (-C) is refused")
    func casDisabledIsRefused() async throws {
        let server = try MemcachedServer(extraArguments: ["-C"])
        defer { server.stop() }
        let store = MemcachedStore(configuration: MemcachedConfiguration(url: server.url)!, clock: ManualClock())
        defer { store.close() }
        await #expect(throws: StorageError.failed("")) { try await store.checkServers() }
        let healthy = MemcachedStore(configuration: MemcachedConfiguration(url: MemcachedServer.shared.url)!, clock: ManualClock())
        defer { healthy.close() }
        let reports = try await healthy.checkServers()
        #expect(reports.count == 1 && reports[0].hasCAS && reports[0].supportsConditionalDelete)
    }

    @Test("§3: a conditional delete (md … C<cas>) removes only the item that was read, never one changed since")
    func conditionalDelete() async throws {
        let client = MemcachedClient(configuration: MemcachedConfiguration(url: MemcachedServer.shared.url)!)
        defer { client.close() }
        let key = "cas-\(UUID().uuidString)"
        #expect(try await client.store(key, Array("first".utf8), ttl: 60, mode: .add) == .stored)
        #expect(try await client.store(key, Array("again".utf8), ttl: 60, mode: .add) == .notStored, "add never overwrites")
        let read = try #require(try await client.get(key))
        #expect(read.value == Array("first".utf8))
        #expect(try await client.store(key, Array("second".utf8), ttl: 60) == .stored)
        #expect(try await !client.delete(key, cas: read.cas), "the item changed since it was read")
        let current = try #require(try await client.get(key))
        #expect(current.value == Array("second".utf8))
        #expect(try await client.store(key, Array("third".utf8), ttl: 60, mode: .compareAndSwap(read.cas)) == .exists)
        #expect(try await client.delete(key, cas: current.cas))
        #expect(try await client.get(key) == nil)
    }

    @Test("memcached:// URLs: one or more servers, port 11211 by default, nothing else")
    func urls() {
        #expect(MemcachedConfiguration(url: "memcached://a:1,b,[::1]:3")?.servers.map(\.description) == ["a:1", "b:11211", "[::1]:3"])
        #expect(MemcachedConfiguration(url: "memcached://") == nil)
        #expect(MemcachedConfiguration(url: "memcached://a:0") == nil)
        #expect(MemcachedConfiguration(url: "memcached://a,a") == nil, "a server twice")
        #expect(MemcachedConfiguration(url: "redis://a") == nil)
    }

    @Test("Consistent hashing: keys spread over every server, and removing one moves only the keys it held")
    func ring() {
        let three = HashRing(names: ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"])
        let two = HashRing(names: ["10.0.0.1:11211", "10.0.0.2:11211"])
        let keys = (0..<3000).map { "auth:code:\($0)" }
        var perServer = [0, 0, 0]
        var moved = 0
        for key in keys {
            let owner = three.server(for: key)
            perServer[owner] += 1
            if owner != 2 && two.server(for: key) != owner { moved += 1 }
        }
        #expect(perServer.allSatisfy { $0 > 600 }, "each of three servers holds a fair share: \(perServer)")
        #expect(moved == 0, "keys of the servers that stay do not move")
    }

    @Test("§3: codes stored and consumed through two stores on the same servers are consumed exactly once")
    func twoProcessesConsumeOnce() async throws {
        let clock = ManualClock()
        let second = try MemcachedServer()
        defer { second.stop() }
        let url = "memcached://127.0.0.1:\(MemcachedServer.shared.port),127.0.0.1:\(second.port)"
        let prefix = "pair-\(UUID().uuidString):"
        let one = MemcachedStore(configuration: MemcachedConfiguration(url: url)!, prefix: prefix, clock: clock)
        let two = MemcachedStore(configuration: MemcachedConfiguration(url: url)!, prefix: prefix, clock: clock)
        defer {
            one.close()
            two.close()
        }
        for round in 0..<10 {
            try await one.storeCode(sampleCode(clock: clock), codeHash: "pair\(round)", ttl: .seconds(60))
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<20 {
                    group.addTask { try await (index % 2 == 0 ? one : two).consumeCode(codeHash: "pair\(round)") != nil }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
        }
    }

    @Test(
        "docs/security.md §10: a Memcached server down fails its keys closed (unavailable), the others keep working, and it recovers by itself"
    )
    func serverDownFailsClosedAndRecovers() async throws {
        let clock = ManualClock()
        let first = try MemcachedServer()
        let second = try MemcachedServer()
        defer {
            first.stop()
            second.stop()
        }
        let url = "memcached://127.0.0.1:\(first.port),127.0.0.1:\(second.port)"
        let store = MemcachedStore(configuration: MemcachedConfiguration(url: url)!, clock: clock)
        defer { store.close() }
        // Codes on each server.
        var hashes: [Int: String] = [:]
        var index = 0
        while hashes.count < 2 {
            let hash = "h\(index)"
            let owner = store.client.server(for: store.itemKey(StorageKey.authorizationCode(hash: hash)))
            if hashes[owner] == nil { hashes[owner] = hash }
            index += 1
        }
        for hash in hashes.values { try await store.storeCode(sampleCode(clock: clock), codeHash: hash, ttl: .seconds(60)) }
        first.stop()
        await #expect(throws: StorageError.unavailable("")) { _ = try await store.consumeCode(codeHash: hashes[0]!) }
        #expect(try await store.consumeCode(codeHash: hashes[1]!) != nil, "the other server's keys still work")
        try first.start()
        // Recovers by itself once the reconnect backoff (at most 1 s) has passed: retried by count.
        var recovered = false
        for _ in 0..<200 where !recovered {
            do {
                recovered = try await store.consumeCode(codeHash: hashes[0]!) == nil
            } catch let error as StorageError where error.isUnavailable {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(recovered, "the restarted server answers, and the code it lost stays unusable")
    }

    @Test("docs/operations.md, Memcached: with -M a full server refuses to store (unavailable, 503) and evicts nothing")
    func fullServerRefusesInsteadOfEvicting() async throws {
        let clock = ManualClock()
        let server = try MemcachedServer(extraArguments: ["-M", "-m", "2"])
        defer { server.stop() }
        let store = MemcachedStore(configuration: MemcachedConfiguration(url: server.url)!, clock: clock)
        defer { store.close() }
        var stored = 0
        var refusal: StorageError?
        while refusal == nil && stored < 50_000 {
            do {
                try await store.storeCode(sampleCode(clock: clock), codeHash: "full\(stored)", ttl: .seconds(600))
                stored += 1
            } catch let error as StorageError {
                refusal = error
            }
        }
        #expect(refusal?.code == .unavailable, "a full server answers SERVER_ERROR, which is temporary")
        #expect(stored > 100)
        #expect(try await store.consumeCode(codeHash: "full0") != nil, "the first code was not evicted")
    }

    @Test("§3: a restart (or eviction) of the server can only make a code unusable, never usable twice")
    func lossMakesCodesUnusable() async throws {
        let clock = ManualClock()
        let server = try MemcachedServer()
        defer { server.stop() }
        let store = MemcachedStore(configuration: MemcachedConfiguration(url: server.url)!, clock: clock)
        defer { store.close() }
        try await store.storeCode(sampleCode(clock: clock), codeHash: "lost", ttl: .seconds(60))
        try await store.storeCode(sampleCode(clock: clock), codeHash: "used", ttl: .seconds(60))
        #expect(try await store.consumeCode(codeHash: "used") != nil)
        server.stop()
        try server.start()
        var answers: [Bool] = []
        for _ in 0..<200 where answers.isEmpty {
            do {
                answers = [try await store.consumeCode(codeHash: "lost") != nil, try await store.consumeCode(codeHash: "used") != nil]
            } catch let error as StorageError where error.isUnavailable {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(answers == [false, false])
    }
}

@Suite("PostgreSQL: URLs, migrations, outages and concurrent processes")
struct PostgresServerTests {
    @Test("postgres:// URLs: libpq's sslmode values, the password never shown")
    func urls() throws {
        let url = try PostgresURL("postgres://pixy:s3cr%40t@db.example.com:6543/auth?sslmode=verify-full")
        #expect(url.configuration.host == "db.example.com" && url.configuration.port == 6543)
        #expect(url.configuration.username == "pixy" && url.configuration.password == "s3cr@t" && url.configuration.database == "auth")
        #expect(url.sslMode == "verify-full")
        #expect(!url.redacted.contains("s3cr"))
        #expect(try PostgresURL("postgresql://u@h/d").sslMode == "prefer", "libpq's default")
        #expect(throws: PostgresURL.Invalid.self) { try PostgresURL("postgres://u:pw@h/d?sslmode=sometimes") }
        #expect(throws: PostgresURL.Invalid.self) { try PostgresURL("postgres://h/d") }
        #expect(url.checksCertificateChain && url.checksHostName, "verify-full checks both")
        #expect(try !PostgresURL("postgres://u@h/d?sslmode=require").checksCertificateChain, "require alone encrypts only")
        let authority = try TestCertificateAuthority()
        let pinned = try PostgresURL("postgres://u@h/d?sslmode=require&sslrootcert=\(authority.caFile)")
        #expect(pinned.checksCertificateChain && !pinned.checksHostName, "require with a root certificate checks the chain, as in libpq")
        #expect(try PostgresURL("postgres://u@h/d?sslmode=verify-ca").checksCertificateChain)
        do {
            _ = try PostgresURL("postgres://u:hunter2@h/d?sslmode=bogus")
        } catch {
            #expect(!"\(error)".contains("hunter2"), "the password is not in the error")
        }
    }

    @Test("§10: no plaintext code, refresh token or client secret reaches PostgreSQL; their hashes are the keys")
    func noPlaintextInPostgres() async throws {
        let clock = ManualClock()
        let store = try await postgresStore(clock: clock)
        defer { store.close() }
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
        let tables = try await store.client.query(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'pixy_%'"
        ).collect().map { try $0.decode(String.self) }
        for table in tables {
            for try await row in try await store.client.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(table) t")) {
                everything += try row.decode(String.self) + "\n"
            }
        }
        #expect(tables.count >= 10)
        for plaintext in [code, secret, refreshToken] { #expect(!everything.contains(plaintext)) }
        #expect(everything.contains("auth:code:" + SecretHash.sha256Hex(code)))
        #expect(everything.contains("auth:rt:" + SecretHash.sha256Hex(refreshToken)))
    }

    @Test("Migrations run once: the first run applies them, later runs and parallel runs find nothing to do")
    func migrationsRunOnce() async throws {
        let url = try PostgresServer.shared.createDatabase()
        let stores = try (0..<4).map { _ in
            PostgresStore(url: try PostgresURL(url), clock: ManualClock(), logger: quietLogger, maximumConnections: 2)
        }
        defer { for store in stores { store.close() } }
        let applied = try await withThrowingTaskGroup(of: [String].self) { group in
            for store in stores { group.addTask { try await store.migrate() } }
            return try await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        #expect(applied.filter { !$0.isEmpty } == [["v1"]], "exactly one process applied v1")
        #expect(try await stores[0].migrate() == [])
    }

    @Test("§5 on PostgreSQL: 8 families × 20 parallel refreshes over two processes never fork and lose no update")
    func refreshesNeverFork() async throws {
        let clock = ManualClock()
        let url = try PostgresServer.shared.createDatabase()
        let one = try await postgresStore(clock: clock, url: url)
        let two = try await postgresStore(clock: clock, url: url)
        defer {
            one.close()
            two.close()
        }
        for family in 0..<8 { try await one.createGrant(sampleGrant(clock: clock, id: "f\(family)", tokenHash: "f\(family)-0")) }
        // Each family: 20 parallel presentations of its first token. Exactly one rotates; the
        // others see the rotation and get the same generation back.
        let rotations = try await withThrowingTaskGroup(of: Bool.self) { group in
            for family in 0..<8 {
                for index in 0..<20 {
                    let store = index % 2 == 0 ? one : two
                    group.addTask {
                        try await store.updateGrant(refreshTokenHash: "f\(family)-0") { grant -> GrantUpdate<Bool> in
                            guard grant.currentTokenHash == "f\(family)-0" else { return .keep(false) }
                            grant.previousTokenHash = grant.currentTokenHash
                            grant.currentTokenHash = "f\(family)-1"
                            grant.generation += 1
                            return .save(true, newTokenHash: "f\(family)-1")
                        } ?? false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(rotations == 8, "one rotation per family")
        for family in 0..<8 {
            let grant = try #require(try await two.grant(withID: "f\(family)"))
            #expect(grant.generation == 2 && grant.currentTokenHash == "f\(family)-1")
        }
    }

    @Test("docs/security.md §10: PostgreSQL down fails closed (unavailable, within the deadline) and recovers by itself")
    func restartFailsClosedAndRecovers() async throws {
        let server = try PostgresServer()
        let clock = ManualClock()
        let url = try server.createDatabase()
        let store = PostgresStore(url: try PostgresURL(url), clock: clock, logger: quietLogger, operationTimeout: .seconds(3))
        defer { store.close() }
        _ = try await store.migrate()
        try await store.save(Client(clientID: "kept", redirectURIs: ["https://app.example.com/cb"], createdAt: clock.now()))
        server.stop()
        await #expect(throws: StorageError.unavailable("")) { _ = try await store.client(withID: "kept") }
        try server.start()
        var found: Client?
        for _ in 0..<200 where found == nil {
            do {
                found = try await store.client(withID: "kept")
            } catch let error as StorageError where error.isUnavailable {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(found?.clientID == "kept", "back by itself, and nothing was lost")
    }

    @Test("sslmode=require refuses a server without TLS instead of falling back to plain text")
    func requireMeansTLS() async throws {
        let url = PostgresServer.shared.url().replacingOccurrences(of: "sslmode=disable", with: "sslmode=require")
        let store = PostgresStore(url: try PostgresURL(url), clock: ManualClock(), logger: quietLogger, operationTimeout: .seconds(3))
        defer { store.close() }
        await #expect(throws: StorageError.unavailable("")) { _ = try await store.client(withID: "any") }
    }
}
