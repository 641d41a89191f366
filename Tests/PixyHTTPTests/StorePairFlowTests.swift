import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PixyCore
import PixyMemcached
import PixyModel
import PixyPostgres
import PixyRESP
import PixyRedis
import PixySQLite
import PixyTesting
import Testing

/// A durable store and the ephemeral store beside it (`--store`, `--ephemeral-store`), each on a
/// real server where it is a server.
enum StorePair: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, memory, redis, postgres
    case postgresMemcached = "postgres+memcached"
    case postgresRedis = "postgres+redis"
    case postgresMemory = "postgres+memory"
    case sqliteMemcached = "sqlite+memcached"
    case redisMemcached = "redis+memcached"

    var testDescription: String { rawValue }

    func open(clock: ManualClock) async throws -> PixyStores {
        let durable: any DurableStorageBackend & EphemeralStorageBackend
        switch self {
        case .sqlite, .sqliteMemcached:
            durable = try SQLiteStore(path: temporaryDatabasePath(), clock: clock)
        case .memory:
            durable = InMemoryStore(clock: clock)
        case .redis, .redisMemcached:
            durable = Self.redis(clock: clock)
        case .postgres, .postgresMemcached, .postgresRedis, .postgresMemory:
            let store = PostgresStore(
                url: try PostgresURL(try PostgresServer.shared.createDatabase()), clock: clock,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                maximumConnections: 4)
            _ = try await store.migrate()
            durable = store
        }
        let ephemeral: any EphemeralStorageBackend
        switch self {
        case .sqlite, .memory, .redis, .postgres:
            ephemeral = durable
        case .postgresMemcached, .sqliteMemcached, .redisMemcached:
            ephemeral = MemcachedStore(
                configuration: MemcachedConfiguration(url: MemcachedServer.shared.url)!, prefix: "pair-\(UUID().uuidString):", clock: clock)
        case .postgresRedis:
            ephemeral = Self.redis(clock: clock)
        case .postgresMemory:
            ephemeral = InMemoryStore(clock: clock)
        }
        return PixyStores(durable: durable, ephemeral: ephemeral)
    }

    private static func redis(clock: ManualClock) -> RedisStore {
        RedisStore(configuration: RedisConfiguration(url: RedisServer.shared.url)!, prefix: "pair-\(UUID().uuidString):", clock: clock)
    }
}

@Suite("Stores as deployed: the whole flow on every durable store and ephemeral store beside it")
struct StorePairFlowTests {
    @Test(
        "docs/operations.md, Stores: register, authorize, redeem, refresh; a replayed code is refused and revokes the family",
        arguments: StorePair.allCases)
    func wholeFlow(pair: StorePair) async throws {
        let harness = try await TestHarness.make(stores: { clock in try await pair.open(clock: clock) })
        try await harness.application().test(.router) { client in
            let registered = try json(
                try await client.execute(
                    uri: "/register", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(
                        string:
                            #"{"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"Pair client"}"#
                    )))
            let clientID = try #require(registered["client_id"] as? String)
            let (query, pkce) = TestHarness.authorizeQuery(
                clientID: ClientID(clientID), redirectURI: "http://127.0.0.1:5555/callback", scope: "read")
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            let redeem: [(String, String)] = [
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value), ("client_id", clientID),
            ]
            let first = try await tokenRequest(client, redeem)
            #expect(first.status == .ok)
            let rt1 = try #require(try json(first)["refresh_token"] as? String)
            let refreshed = try await tokenRequest(
                client, [("grant_type", "refresh_token"), ("refresh_token", rt1), ("client_id", clientID)])
            #expect(refreshed.status == .ok)
            let rt2 = try #require(try json(refreshed)["refresh_token"] as? String)

            let replay = try await tokenRequest(client, redeem)
            #expect(replay.status == .badRequest)
            #expect(try json(replay)["error"] as? String == "invalid_grant")
            let afterReplay = try await tokenRequest(
                client, [("grant_type", "refresh_token"), ("refresh_token", rt2), ("client_id", clientID)])
            #expect(try json(afterReplay)["error"] as? String == "invalid_grant", "the replay revoked the family the code started")
            #expect(try await harness.stores.clients.client(withID: ClientID(clientID)) != nil, "the client is durable")
        }
    }
}
