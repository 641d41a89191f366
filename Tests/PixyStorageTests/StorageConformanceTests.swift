import Foundation
import PixyCore
import PixyJWT
import PixyModel
import PixySQLite
import PixyRedis
import PixyRESP
import PixyPostgres
import PixyMemcached
import Logging
import PixyTesting
import Synchronization
import Testing

/// Every store that can hold durable state (`--store`) in the conformance suite.
enum DurableBackend: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, redis, postgres

    var testDescription: String { rawValue }

    func make(clock: ManualClock) async throws -> any DurableStorageBackend {
        switch self {
        case .memory: return InMemoryStore(clock: clock)
        case .sqlite: return try SQLiteStore(path: temporaryDatabasePath(), clock: clock)
        case .redis: return redisStore(clock: clock)
        case .postgres: return try await postgresStore(clock: clock)
        }
    }
}

/// Every store that can hold short-lived state (`--ephemeral-store`, or the durable store when
/// none is named) in the conformance suite.
enum EphemeralBackend: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, redis, postgres, memcached

    var testDescription: String { rawValue }

    func make(clock: ManualClock) async throws -> any EphemeralStorageBackend {
        switch self {
        case .memory: return InMemoryStore(clock: clock)
        case .sqlite: return try SQLiteStore(path: temporaryDatabasePath(), clock: clock)
        case .redis: return redisStore(clock: clock)
        case .postgres: return try await postgresStore(clock: clock)
        case .memcached: return memcachedStore(clock: clock)
        }
    }
}

/// A PostgreSQL store on a fresh database of the test process's shared real server, migrated.
func postgresStore(clock: ManualClock, url: String? = nil) async throws -> PostgresStore {
    let url = try url ?? PostgresServer.shared.createDatabase()
    let store = PostgresStore(url: try PostgresURL(url), clock: clock, logger: quietLogger, maximumConnections: 4)
    _ = try await store.migrate()
    return store
}

/// A Memcached store on the test process's shared real `memcached`, under a fresh key prefix.
func memcachedStore(clock: ManualClock, prefix: String = "test-\(UUID().uuidString):") -> MemcachedStore {
    MemcachedStore(configuration: MemcachedConfiguration(url: MemcachedServer.shared.url)!, prefix: prefix, clock: clock)
}

/// A Redis store on the test process's shared real `redis-server`, under a fresh key prefix so
/// tests running in parallel never see each other's keys.
func redisStore(clock: ManualClock, prefix: String = "test-\(UUID().uuidString):") -> RedisStore {
    RedisStore(configuration: RedisConfiguration(url: RedisServer.shared.url)!, prefix: prefix, clock: clock)
}

/// The stores several Pixy processes share: two handles on one store, as two processes have.
enum SharedStore: String, CaseIterable, CustomTestStringConvertible {
    case redis, postgres, memcached

    var testDescription: String { rawValue }

    func pair(clock: ManualClock) async throws -> (any Sendable, any Sendable) {
        switch self {
        case .redis:
            let prefix = "shared-\(UUID().uuidString):"
            return (redisStore(clock: clock, prefix: prefix), redisStore(clock: clock, prefix: prefix))
        case .postgres:
            let url = try PostgresServer.shared.createDatabase()
            return (try await postgresStore(clock: clock, url: url), try await postgresStore(clock: clock, url: url))
        case .memcached:
            let prefix = "shared-\(UUID().uuidString):"
            return (memcachedStore(clock: clock, prefix: prefix), memcachedStore(clock: clock, prefix: prefix))
        }
    }
}

@Suite("Storage conformance: every backend keeps the same promises")
struct StorageConformanceTests {
    @Test("§3: a code is consumed exactly once and returns its whole record", arguments: EphemeralBackend.allCases)
    func consumeOnce(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let record = sampleCode(clock: clock)
        try await store.storeCode(record, codeHash: "h1", ttl: .seconds(60))
        #expect(try await store.consumeCode(codeHash: "h1") == record)
        #expect(try await store.consumeCode(codeHash: "h1") == nil)
        #expect(try await store.consumeCode(codeHash: "never") == nil)
    }

    @Test("§3: of 50 concurrent consumers exactly one gets the code", arguments: EphemeralBackend.allCases)
    func concurrentConsume(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        for round in 0..<5 {
            try await store.storeCode(sampleCode(clock: clock), codeHash: "race\(round)", ttl: .seconds(60))
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<50 { group.addTask { try await store.consumeCode(codeHash: "race\(round)") != nil } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
        }
    }

    @Test("§3: a code is gone after its TTL", arguments: EphemeralBackend.allCases)
    func codeTTL(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        try await store.storeCode(sampleCode(clock: clock), codeHash: "ttl", ttl: .seconds(60))
        clock.advance(by: .seconds(61))
        #expect(try await store.consumeCode(codeHash: "ttl") == nil)
    }

    @Test("§3: storing a second code under a live hash fails instead of overwriting", arguments: EphemeralBackend.allCases)
    func duplicateCode(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        try await store.storeCode(sampleCode(clock: clock), codeHash: "dup", ttl: .seconds(60))
        await #expect(throws: StorageError.duplicateKey) {
            try await store.storeCode(sampleCode(clock: clock, client: "evil"), codeHash: "dup", ttl: .seconds(60))
        }
        #expect(try await store.consumeCode(codeHash: "dup")?.clientID == "app")
    }

    @Test("§3: kinds live in separate namespaces", arguments: EphemeralBackend.allCases)
    func namespaces(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        try await store.storeCode(sampleCode(clock: clock), codeHash: "shared", ttl: .seconds(60))
        #expect(try await store.session(key: "shared") == nil)
        #expect(try await store.consumePendingAuthorization(key: "shared") == nil)
        #expect(try await store.consumeCode(codeHash: "shared") != nil)
    }

    @Test("Clients: save, read, list in creation order, replace, remove", arguments: DurableBackend.allCases)
    func clients(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let first = Client(
            clientID: "a", clientName: "A", redirectURIs: ["https://a.example/cb"], scope: Scope(validatedTokens: ["read"]),
            createdAt: clock.now())
        clock.advance(by: .seconds(1))
        var second = Client(
            clientID: "b", redirectURIs: ["https://b.example/cb"], tokenEndpointAuthMethod: .clientSecretPost,
            secretHash: "hash", isDynamicallyRegistered: true, createdAt: clock.now(), softwareID: "sw")
        try await store.save(second)
        try await store.save(first)
        #expect(try await store.client(withID: "a") == first)
        #expect(try await store.client(withID: "b") == second)
        #expect(try await store.allClients().map(\.clientID) == ["a", "b"])
        second.clientName = "Renamed"
        try await store.save(second)
        #expect(try await store.client(withID: "b")?.clientName == "Renamed")
        #expect(try await store.removeClient(withID: "a"))
        #expect(try await !store.removeClient(withID: "a"))
        #expect(try await store.client(withID: "a") == nil)
    }

    @Test("Users: unique usernames, lookup by name and id, removal", arguments: DurableBackend.allCases)
    func users(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let alice = User(id: "u1", username: "alice", passwordHash: "$2b$...", createdAt: clock.now())
        try await store.save(alice)
        #expect(try await store.user(named: "alice") == alice)
        #expect(try await store.user(withID: "u1") == alice)
        // Read again after a change: decoded records are remembered by their stored text
        // (DecodedRecordCache), so a changed record must never come back in its old form.
        var changed = alice
        changed.passwordHash = "$2b$changed"
        try await store.save(changed)
        #expect(try await store.user(withID: "u1") == changed)
        #expect(try await store.user(named: "alice") == changed)
        try await store.save(alice)
        #expect(try await store.user(withID: "u1") == alice)
        await #expect(throws: StorageError.duplicateUsername) {
            try await store.save(User(id: "u2", username: "alice", passwordHash: "x", createdAt: clock.now()))
        }
        #expect(try await store.allUsers().count == 1)
        #expect(try await store.removeUser(named: "alice"))
        #expect(try await store.user(withID: "u1") == nil)
    }

    @Test("Signing keys: saved and listed", arguments: DurableBackend.allCases)
    func signingKeys(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let key = try SigningKeyRing.makeKey(createdAt: clock.now())
        try await store.save(key)
        #expect(try await store.allSigningKeys() == [key])
    }

    @Test("§8: sessions expire and can be deleted; pending authorizations are consumed once", arguments: EphemeralBackend.allCases)
    func interactions(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let session = BrowserSession(csrfToken: "csrf", userID: "u1", authTime: clock.now(), expiresAt: clock.now().addingTimeInterval(100))
        try await store.saveSession(session, key: "s1", ttl: .seconds(100))
        #expect(try await store.session(key: "s1") == session)
        try await store.deleteSession(key: "s1")
        #expect(try await store.session(key: "s1") == nil)
        try await store.saveSession(session, key: "s2", ttl: .seconds(100))
        clock.advance(by: .seconds(101))
        #expect(try await store.session(key: "s2") == nil)

        let request = AuthorizationRequest(
            clientID: "app", redirectURI: "https://app.example.com/cb", redirectURIWasSent: true,
            codeChallenge: CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!,
            scope: .empty, resource: nil, state: "st", prompt: [.consent])
        let pending = PendingAuthorization(request: request, sessionKey: "s1", expiresAt: clock.now().addingTimeInterval(600))
        try await store.savePendingAuthorization(pending, key: "tx", ttl: .seconds(600))
        #expect(try await store.pendingAuthorization(key: "tx") == pending)
        let consumed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { try await store.consumePendingAuthorization(key: "tx") != nil } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(consumed == 1)
        try await store.savePendingAuthorization(pending, key: "tx2", ttl: .seconds(600))
        clock.advance(by: .seconds(601))
        #expect(try await store.consumePendingAuthorization(key: "tx2") == nil)
    }

    @Test("§3: a used-code marker is kept for its TTL, in its own namespace", arguments: EphemeralBackend.allCases)
    func usedCodeMarkers(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let marker = UsedCodeMarker(
            clientID: "app", codeChallenge: CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!,
            tokenIDs: ["a", "b"], tokensExpireAt: clock.now().addingTimeInterval(3600))
        try await store.markCodeUsed(codeHash: "h", marker, ttl: .seconds(3600))
        #expect(try await store.usedCodeMarker(codeHash: "h") == marker)
        #expect(try await store.consumeCode(codeHash: "h") == nil, "a marker is not a code")
        clock.advance(by: .seconds(3601))
        #expect(try await store.usedCodeMarker(codeHash: "h") == nil)
    }

    @Test(
        "§3: a redemption consumes the code and leaves its marker; a failed check consumes it and leaves none",
        arguments: EphemeralBackend.allCases)
    func redemption(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let record = sampleCode(clock: clock)
        let marker = UsedCodeMarker(
            clientID: "app", codeChallenge: record.codeChallenge, tokenIDs: ["jti"],
            tokensExpireAt: clock.now().addingTimeInterval(3600), grantID: "family")
        let checks = CallCount()

        try await store.storeCode(record, codeHash: "passes", ttl: .seconds(60))
        let redeemed = try await store.consumeCode(codeHash: "passes", markingUsedFor: .seconds(3600)) { consumed in
            checks.add()
            #expect(consumed == record, "the checks see the whole stored record")
            return (marker, "issued")
        }
        #expect(redeemed == "issued")
        #expect(try await store.consumeCode(codeHash: "passes") == nil, "the code is gone")
        #expect(try await store.usedCodeMarker(codeHash: "passes") == marker)

        try await store.storeCode(record, codeHash: "fails", ttl: .seconds(60))
        await #expect(throws: OAuthError.self) {
            _ = try await store.consumeCode(codeHash: "fails", markingUsedFor: .seconds(3600)) {
                _ -> (marker: UsedCodeMarker, redemption: String) in
                checks.add()
                throw OAuthError.invalidGrant("The code verifier does not match the code challenge.")
            }
        }
        #expect(try await store.consumeCode(codeHash: "fails") == nil, "a failed check still consumes the code")
        #expect(try await store.usedCodeMarker(codeHash: "fails") == nil, "a failed check leaves no marker")

        try await store.storeCode(record, codeHash: "expired", ttl: .seconds(60))
        clock.advance(by: .seconds(61))
        for hash in ["expired", "never", "passes"] {
            let answer = try await store.consumeCode(codeHash: hash, markingUsedFor: .seconds(3600)) { _ in
                checks.add()
                return (marker, "issued")
            }
            #expect(answer == nil, "\(hash)")
        }
        #expect(checks.value == 2, "no checks run without a live code")
        #expect(try await store.usedCodeMarker(codeHash: "expired") == nil)
    }

    @Test("§3: of 50 concurrent redemptions of one code exactly one runs its checks", arguments: EphemeralBackend.allCases)
    func concurrentRedemption(backend: EphemeralBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        for round in 0..<5 {
            let record = sampleCode(clock: clock)
            try await store.storeCode(record, codeHash: "race\(round)", ttl: .seconds(60))
            let checks = CallCount()
            let winners = try await withThrowingTaskGroup(of: Int?.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await store.consumeCode(codeHash: "race\(round)", markingUsedFor: .seconds(60)) { _ in
                            checks.add()
                            let marker = UsedCodeMarker(
                                clientID: "app", codeChallenge: record.codeChallenge, tokenIDs: ["jti\(index)"],
                                tokensExpireAt: clock.now().addingTimeInterval(60))
                            return (marker, index)
                        }
                    }
                }
                return try await group.compactMap { $0 }.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(winners.count == 1)
            #expect(checks.value == 1)
            let marker = try #require(try await store.usedCodeMarker(codeHash: "race\(round)"))
            #expect(marker.tokenIDs == ["jti\(winners[0])"], "the marker is the winner's")
        }
    }
}

/// How many times a closure ran, across tasks.
final class CallCount: Sendable {
    private let count = Mutex(0)
    /// Counts one call.
    func add() { count.withLock { $0 += 1 } }
    /// The calls counted so far.
    var value: Int { count.withLock { $0 } }
}

@Suite("Storage conformance: token status")
struct TokenStatusConformanceTests {
    @Test("§9: a revoked jti stays revoked until the token would have expired", arguments: DurableBackend.allCases)
    func revokedTokens(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        #expect(try await !store.isTokenRevoked(id: "jti-1"))
        try await store.revokeToken(id: "jti-1", expiresAt: clock.now().addingTimeInterval(60))
        #expect(try await store.isTokenRevoked(id: "jti-1"))
        #expect(try await !store.isTokenRevoked(id: "jti-2"))
    }
}

@Suite("Storage conformance: grants and refresh families")
struct GrantConformanceTests {
    @Test("§5: grants are found by id and by any refresh token hash they issued", arguments: DurableBackend.allCases)
    func createAndIndex(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let grant = sampleGrant(clock: clock)
        try await store.createGrant(grant)
        #expect(try await store.grant(withID: "g1") == grant)
        let rotated = try await store.updateGrant(refreshTokenHash: "rt-hash-1") { grant -> GrantUpdate<Int> in
            grant.previousTokenHash = grant.currentTokenHash
            grant.currentTokenHash = "rt-hash-2"
            grant.generation += 1
            return .save(grant.generation, newTokenHash: "rt-hash-2")
        }
        #expect(rotated == 2)
        for hash in ["rt-hash-1", "rt-hash-2"] {
            let id = try await store.updateGrant(refreshTokenHash: hash) { grant -> GrantUpdate<String> in .keep(grant.id) }
            #expect(id == "g1")
        }
        let unknown = try await store.updateGrant(refreshTokenHash: "nope") { grant -> GrantUpdate<String> in .keep(grant.id) }
        #expect(unknown == nil)
        await #expect(throws: StorageError.duplicateKey) { try await store.createGrant(grant) }
    }

    @Test("§5: .keep changes nothing", arguments: DurableBackend.allCases)
    func keepChangesNothing(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        try await store.createGrant(sampleGrant(clock: clock))
        _ = try await store.updateGrant(id: "g1") { grant -> GrantUpdate<Bool> in
            grant.generation = 99
            grant.revokedAt = clock.now()
            return .keep(true)
        }
        #expect(try await store.grant(withID: "g1") == sampleGrant(clock: clock))
    }

    @Test("§5: updates of one family are atomic: 50 concurrent increments all land", arguments: DurableBackend.allCases)
    func atomicUpdates(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        try await store.createGrant(sampleGrant(clock: clock))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    _ = try await store.updateGrant(refreshTokenHash: "rt-hash-1") { grant -> GrantUpdate<Int> in
                        grant.generation += 1
                        return .save(grant.generation, newTokenHash: nil)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.grant(withID: "g1")?.generation == 51)
    }
}

@Suite("Storage conformance: remembered consent")
struct ConsentConformanceTests {
    @Test("Consent is kept per user, client and resource", arguments: DurableBackend.allCases)
    func consentsAreKeyed(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let record = ConsentRecord(scope: Scope(validatedTokens: ["read"]), updatedAt: clock.now())
        try await store.saveConsent(record, userID: "u1", clientID: "c1", resource: "https://mcp.example.com/")
        #expect(try await store.consent(userID: "u1", clientID: "c1", resource: "https://mcp.example.com/") == record)
        #expect(try await store.consent(userID: "u1", clientID: "c1", resource: nil) == nil)
        #expect(try await store.consent(userID: "u2", clientID: "c1", resource: "https://mcp.example.com/") == nil)
        #expect(try await store.consent(userID: "u1:c1", clientID: "", resource: "https://mcp.example.com/") == nil, "keys cannot collide")
    }

    @Test(
        "Forgetting consent removes the user's records for that client, every resource, and nobody else's (ids with % and _ included)",
        arguments: DurableBackend.allCases)
    func forgettingConsent(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        let record = ConsentRecord(scope: Scope(validatedTokens: ["read"]), updatedAt: clock.now())
        for resource in ["https://mcp.example.com/", "https://other.example.com/mcp", nil] {
            try await store.saveConsent(record, userID: "u_1%", clientID: "c1", resource: resource)
        }
        // Neighbours a LIKE pattern or a loose prefix would also match.
        try await store.saveConsent(record, userID: "u_1%", clientID: "c1x", resource: nil)
        try await store.saveConsent(record, userID: "uX1%", clientID: "c1", resource: nil)
        try await store.saveConsent(record, userID: "u_1%25", clientID: "c1", resource: nil)
        try await store.forgetConsents(userID: "u_1%", clientID: "c1")
        for resource in ["https://mcp.example.com/", "https://other.example.com/mcp", nil] {
            #expect(try await store.consent(userID: "u_1%", clientID: "c1", resource: resource) == nil)
        }
        #expect(try await store.consent(userID: "u_1%", clientID: "c1x", resource: nil) == record)
        #expect(try await store.consent(userID: "uX1%", clientID: "c1", resource: nil) == record)
        #expect(try await store.consent(userID: "u_1%25", clientID: "c1", resource: nil) == record)
        try await store.forgetConsents(userID: "u_1%", clientID: "c1")
    }
}

@Suite("Failed-login counters: in memory and on every shared store")
struct FailureCountingConformanceTests {
    enum Counters: String, CaseIterable, CustomTestStringConvertible {
        case memory, redis, postgres, memcached
        var testDescription: String { rawValue }
        func make(clock: ManualClock) async throws -> any FailureCounting {
            switch self {
            case .memory: return InMemoryFailureCounters(clock: clock)
            case .redis: return redisStore(clock: clock)
            case .postgres: return try await postgresStore(clock: clock)
            case .memcached: return memcachedStore(clock: clock)
            }
        }
    }

    @Test("docs/security.md §8: failures count within their window, then start over; clearing forgets", arguments: Counters.allCases)
    func window(counters kind: Counters) async throws {
        let clock = ManualClock()
        let counters = try await kind.make(clock: clock)
        #expect(try await counters.failures(for: "u:alice") == 0)
        try await counters.recordFailure(for: "u:alice", window: .seconds(60))
        clock.advance(by: .seconds(30))
        try await counters.recordFailure(for: "u:alice", window: .seconds(60))
        #expect(try await counters.failures(for: "u:alice") == 2)
        #expect(try await counters.failures(for: "u:bob") == 0)
        clock.advance(by: .seconds(31))
        #expect(try await counters.failures(for: "u:alice") == 0, "the window began at the first failure")
        try await counters.recordFailure(for: "u:alice", window: .seconds(60))
        #expect(try await counters.failures(for: "u:alice") == 1)
        try await counters.clearFailures(for: "u:alice")
        #expect(try await counters.failures(for: "u:alice") == 0)
    }

    @Test(
        "docs/security.md §8 on a shared store: two processes share one count, so replicas do not multiply the attempts allowed",
        arguments: SharedStore.allCases)
    func sharedAcrossProcesses(shared: SharedStore) async throws {
        let clock = ManualClock()
        let (one, two) = try await shared.pair(clock: clock)
        let first = LoginThrottle(clock: clock, counters: one as! any FailureCounting, maximumFailures: 3)
        let second = LoginThrottle(clock: clock, counters: two as! any FailureCounting, maximumFailures: 3)
        try await first.recordFailure(username: "alice", source: "10.0.0.1")
        try await second.recordFailure(username: "alice", source: "10.0.0.2")
        #expect(try await first.allowsAttempt(username: "alice", source: "10.0.0.3"))
        try await first.recordFailure(username: "alice", source: "10.0.0.1")
        #expect(try await !second.allowsAttempt(username: "alice", source: "10.0.0.9"), "the other process sees all three failures")
        try await second.recordSuccess(username: "alice")
        #expect(try await first.allowsAttempt(username: "alice", source: "10.0.0.3"))
    }
}

@Suite("Registration rate-limit buckets: in memory and on every shared store")
struct TokenBucketConformanceTests {
    enum Buckets: String, CaseIterable, CustomTestStringConvertible {
        case memory, redis, postgres, memcached
        var testDescription: String { rawValue }
        func make(clock: ManualClock) async throws -> any TokenBucketStoring {
            switch self {
            case .memory: return InMemoryTokenBuckets()
            case .redis: return redisStore(clock: clock)
            case .postgres: return try await postgresStore(clock: clock)
            case .memcached: return memcachedStore(clock: clock)
            }
        }
    }

    @Test("docs/security.md §7: a burst, then one token per refill interval, with the wait until the next", arguments: Buckets.allCases)
    func bucket(kind: Buckets) async throws {
        let clock = ManualClock()
        let limiter = RateLimiter(clock: clock, burst: 3, refillPerSecond: 0.1, buckets: try await kind.make(clock: clock))
        for _ in 0..<3 { #expect(try await limiter.take("1.2.3.4").isAllowed) }
        #expect(try await limiter.take("1.2.3.4") == RateLimitDecision(isAllowed: false, retryAfter: 10))
        #expect(try await limiter.take("5.6.7.8").isAllowed, "per key")
        clock.advance(by: .seconds(10))
        #expect(try await limiter.take("1.2.3.4").isAllowed)
        #expect(try await !limiter.take("1.2.3.4").isAllowed)
    }

    @Test(
        "docs/security.md §7 on a shared store: processes draw from one bucket, so replicas do not multiply the burst",
        arguments: SharedStore.allCases)
    func sharedAcrossProcesses(shared: SharedStore) async throws {
        let clock = ManualClock()
        let (one, two) = try await shared.pair(clock: clock)
        let first = RateLimiter(clock: clock, burst: 4, refillPerSecond: 0.1, buckets: one as! any TokenBucketStoring)
        let second = RateLimiter(clock: clock, burst: 4, refillPerSecond: 0.1, buckets: two as! any TokenBucketStoring)
        let decisions = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<10 { group.addTask { try await (index % 2 == 0 ? first : second).take("9.9.9.9").isAllowed } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(decisions == 4, "of 10 concurrent requests over two processes, exactly the burst passes")
    }
}

@Suite("Storage conformance: grants by owner (offboarding)")
struct GrantOwnerConformanceTests {
    @Test("A user's and a client's grants are listed, revoked ones included, ended ones not", arguments: DurableBackend.allCases)
    func grantsByOwner(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        var other = sampleGrant(clock: clock, id: "g2", tokenHash: "rt-other")
        other.subject = "user-2"
        other.clientID = "tool:with:colons"
        var shortLived = sampleGrant(clock: clock, id: "g3", tokenHash: "rt-short")
        shortLived.expiresAt = clock.now().addingTimeInterval(100)
        for grant in [sampleGrant(clock: clock), other, shortLived] { try await store.createGrant(grant) }
        _ = try await store.updateGrant(id: "g1") { grant -> GrantUpdate<Void> in
            grant.revokedAt = clock.now()
            return .save((), newTokenHash: nil)
        }
        #expect(Set(try await store.grants(of: .user(id: "user-1")).map(\.id)) == ["g1", "g3"])
        #expect(try await store.grants(of: .user(id: "user-1")).first { $0.id == "g1" }?.revokedAt != nil)
        #expect(try await store.grants(of: .client("tool:with:colons")).map(\.id) == ["g2"])
        #expect(try await store.grants(of: .client("app")).map(\.id).sorted() == ["g1", "g3"])
        #expect(Set(try await store.grants(of: .everyone).map(\.id)) == ["g1", "g2", "g3"])
        #expect(try await store.grants(of: .user(id: "nobody")).isEmpty)
        clock.advance(by: .seconds(101))
        #expect(try await store.grants(of: .user(id: "user-1")).map(\.id) == ["g1"], "an ended grant is not listed")
    }
}

@Suite("Failed-login reservations: atomic in memory and on every shared store")
struct ReservationConformanceTests {
    @Test(
        "Of 40 parallel reservations with a limit of 5, exactly 5 are counted; a release lets one more in",
        arguments: FailureCountingConformanceTests.Counters.allCases)
    func parallelReservations(counters kind: FailureCountingConformanceTests.Counters) async throws {
        let clock = ManualClock()
        let counters = try await kind.make(clock: clock)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<40 {
                group.addTask { (try? await counters.reserveAttempt(for: "u:alice", limit: 5, window: .seconds(60))) == true }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
        #expect(try await counters.failures(for: "u:alice") == 5)
        try await counters.releaseAttempt(for: "u:alice")
        #expect(try await counters.reserveAttempt(for: "u:alice", limit: 5, window: .seconds(60)))
        #expect(try await !counters.reserveAttempt(for: "u:alice", limit: 5, window: .seconds(60)))
        clock.advance(by: .seconds(61))
        #expect(try await counters.reserveAttempt(for: "u:alice", limit: 5, window: .seconds(60)), "a new window")
        for _ in 0..<3 { try await counters.releaseAttempt(for: "u:alice") }
        #expect(try await counters.failures(for: "u:alice") == 0, "never below zero")
    }
}

@Suite("Storage conformance: bookkeeping never resurrects a client")
struct ClientReplaceConformanceTests {
    @Test("Identifiers no store can hold (a NUL character) are simply unknown, never a server error", arguments: DurableBackend.allCases)
    func unstorableIdentifiers(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        #expect(try await store.client(withID: "app\u{0}") == nil)
        #expect(try await store.user(named: "alice\u{0}") == nil)
        #expect(try await store.user(withID: "\u{0}") == nil)
        #expect(try await store.grant(withID: "g\u{0}") == nil)
        #expect(try await !store.isTokenRevoked(id: "jti\u{0}"))
        #expect(try await store.consent(userID: "u\u{0}", clientID: "c", resource: nil) == nil)
    }

    @Test("replaceIfPresent updates a registered client and does nothing once it was removed", arguments: DurableBackend.allCases)
    func replaceIfPresent(backend: DurableBackend) async throws {
        let clock = ManualClock()
        let store = try await backend.make(clock: clock)
        var client = Client(
            clientID: "dcr-1", redirectURIs: ["https://a.example/cb"], isDynamicallyRegistered: true, createdAt: clock.now())
        try await store.save(client)
        client.lastUsedAt = clock.now().addingTimeInterval(86_401)
        #expect(try await store.replaceIfPresent(client))
        #expect(try await store.client(withID: "dcr-1")?.lastUsedAt == client.lastUsedAt)
        #expect(try await store.removeClient(withID: "dcr-1"))
        #expect(try await !store.replaceIfPresent(client))
        #expect(try await store.client(withID: "dcr-1") == nil, "a pruned client stays pruned")
        #expect(try await store.allClients().isEmpty)
    }
}
