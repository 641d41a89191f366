import Foundation
import PixyCore
import PixyModel
import PixyRedis
import PixyRESP
import PixyTesting

// The same fixtures as Tests/PixyStorageTests/StorageConformanceTests.swift, for the Redis
// store's own tests.

/// A Redis store on the test process's shared real `redis-server`, under a fresh key prefix so
/// tests running in parallel never see each other's keys.
func redisStore(clock: ManualClock, prefix: String = "test-\(UUID().uuidString):") -> RedisStore {
    RedisStore(configuration: RedisConfiguration(url: RedisServer.shared.url)!, prefix: prefix, clock: clock)
}

func sampleCode(clock: ManualClock, client: ClientID = "app") -> AuthorizationCodeRecord {
    AuthorizationCodeRecord(
        clientID: client, redirectURI: "https://app.example.com/cb", codeChallenge: CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!,
        scope: Scope(validatedTokens: ["read"]), resource: "https://mcp.example.com/", subject: "user-1", issuer: "https://auth.example.com",
        authTime: clock.now(), expiresAt: clock.now().addingTimeInterval(60))
}

func sampleGrant(clock: ManualClock, id: String = "g1", tokenHash: String = "rt-hash-1") -> Grant {
    Grant(id: id, clientID: "app", subject: "user-1", scope: Scope(validatedTokens: ["read"]), resource: "https://mcp.example.com/",
          authTime: clock.now(), createdAt: clock.now(), expiresAt: clock.now().addingTimeInterval(1000),
          idleExpiresAt: clock.now().addingTimeInterval(500), currentTokenHash: tokenHash)
}
