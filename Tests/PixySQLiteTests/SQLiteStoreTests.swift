import Foundation
import GRDB
import PixyCore
import PixyJWT
import PixyModel
import PixySQLite
import PixyTesting
import Testing

@Suite("SQLite store")
struct SQLiteStoreTests {
    @Test("§7 / §10: clients, users, keys and grants survive closing and reopening the file")
    func durableAcrossRestart() async throws {
        let clock = ManualClock()
        let path = temporaryDatabasePath()
        let client = Client(
            clientID: "durable", redirectURIs: ["https://a.example/cb"], isDynamicallyRegistered: true, createdAt: clock.now())
        let key = try SigningKeyRing.makeKey(createdAt: clock.now())
        do {
            let store = try SQLiteStore(path: path, clock: clock)
            try await store.save(client)
            try await store.save(User(id: "u", username: "bob", passwordHash: "h", createdAt: clock.now()))
            try await store.save(key)
            try await store.createGrant(sampleGrant(clock: clock))
        }
        let reopened = try SQLiteStore(path: path, clock: clock)
        #expect(try await reopened.grant(withID: "g1") == sampleGrant(clock: clock))
        #expect(try await reopened.client(withID: "durable") == client)
        #expect(try await reopened.user(named: "bob") != nil)
        #expect(try await reopened.allSigningKeys() == [key])
    }

    @Test("§3 / §10: a redemption whose marker cannot be written rolls back whole: the code stays, no marker, nothing issued")
    func redemptionRollsBackWhole() async throws {
        let clock = ManualClock()
        let path = temporaryDatabasePath()
        let store = try SQLiteStore(path: path, clock: clock)
        let record = sampleCode(clock: clock)
        try await store.storeCode(record, codeHash: "h", ttl: .seconds(60))
        // Another connection makes the marker's insert fail, as a full disk would.
        let saboteur = try DatabaseQueue(path: path)
        try await saboteur.write { db in
            try db.execute(
                sql: "CREATE TRIGGER refuse_markers BEFORE INSERT ON used_codes BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        }
        let marker = UsedCodeMarker(
            clientID: "app", codeChallenge: record.codeChallenge, tokenIDs: ["jti"],
            tokensExpireAt: clock.now().addingTimeInterval(3600))
        await #expect(throws: DatabaseError.self) {
            _ = try await store.consumeCode(codeHash: "h", markingUsedFor: .seconds(3600)) { _ in (marker, "issued") }
        }
        try await saboteur.write { db in try db.execute(sql: "DROP TRIGGER refuse_markers") }
        #expect(try await store.usedCodeMarker(codeHash: "h") == nil)
        #expect(try await store.consumeCode(codeHash: "h") == record, "the failed step consumed nothing")
    }

    @Test("The database runs in WAL mode")
    func walMode() async throws {
        let store = try SQLiteStore(path: temporaryDatabasePath(), clock: ManualClock())
        #expect(try await store.journalMode() == "wal")
    }

    @Test("§10: no plaintext code or client secret reaches the database file")
    func noPlaintextInFile() async throws {
        let clock = ManualClock()
        let path = temporaryDatabasePath()
        let store = try SQLiteStore(path: path, clock: clock)
        let code = SecureRandom.token()
        let secret = SecureRandom.token()
        try await store.storeCode(sampleCode(clock: clock), codeHash: SecretHash.sha256Hex(code), ttl: .seconds(60))
        try await store.save(
            Client(
                clientID: "c", redirectURIs: ["https://a.example/cb"], tokenEndpointAuthMethod: .clientSecretBasic,
                secretHash: SecretHash.sha256Hex(secret), createdAt: clock.now()))
        var bytes = Data()
        for suffix in ["", "-wal"] { bytes.append((try? Data(contentsOf: URL(fileURLWithPath: path + suffix))) ?? Data()) }
        #expect(!bytes.isEmpty)
        #expect(bytes.range(of: Data(code.utf8)) == nil)
        #expect(bytes.range(of: Data(secret.utf8)) == nil)
        #expect(bytes.range(of: Data(SecretHash.sha256Hex(code).utf8)) != nil, "the hash is what is stored")
    }

    @Test("Signing keys: the ring creates one key on first load and reuses it afterwards")
    func keyRingPersists() async throws {
        let clock = ManualClock()
        let path = temporaryDatabasePath()
        let first = try await SigningKeyRing.load(from: try SQLiteStore(path: path, clock: clock), clock: clock)
        let second = try await SigningKeyRing.load(from: try SQLiteStore(path: path, clock: clock), clock: clock)
        #expect(first.currentKeyID == second.currentKeyID)
        #expect(first.jwksJSON == second.jwksJSON)
        #expect(first.jwksJSON.contains(first.currentKeyID))
        #expect(!first.jwksJSON.contains("\"d\""), "the JWKS never carries the private key")
    }
}
