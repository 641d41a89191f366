public import Foundation
public import PixyCore
public import PixyModel

// Records the store tests of every backend share (Tests/PixyStorageTests, PixySQLiteTests,
// PixyRedisTests).

/// A path for a fresh SQLite file in a directory of its own.
public func temporaryDatabasePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("pixy.sqlite").path
}

/// An authorization code record for `client`, valid for 60 s from `clock`'s now.
public func sampleCode(clock: ManualClock, client: ClientID = "app") -> AuthorizationCodeRecord {
    AuthorizationCodeRecord(
        clientID: client, redirectURI: "https://app.example.com/cb",
        codeChallenge: CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!,
        scope: Scope(validatedTokens: ["read"]), resource: "https://mcp.example.com/", subject: "user-1",
        issuer: "https://auth.example.com",
        authTime: clock.now(), expiresAt: clock.now().addingTimeInterval(60))
}

/// A refresh-token family whose current token hashes to `tokenHash`.
public func sampleGrant(clock: ManualClock, id: String = "g1", tokenHash: String = "rt-hash-1") -> Grant {
    Grant(
        id: id, clientID: "app", subject: "user-1", scope: Scope(validatedTokens: ["read"]), resource: "https://mcp.example.com/",
        authTime: clock.now(), createdAt: clock.now(), expiresAt: clock.now().addingTimeInterval(1000),
        idleExpiresAt: clock.now().addingTimeInterval(500), currentTokenHash: tokenHash)
}

/// Access token claims for `user-1` and the client `app`, issued now for 15 minutes.
public func sampleClaims(clock: ManualClock, issuer: String = "https://auth.example.com") -> AccessTokenClaims {
    AccessTokenClaims(
        issuer: issuer, subject: "user-1", audience: issuer, clientID: "app", scope: Scope(validatedTokens: ["read"]),
        issuedAt: clock.now(), expiresAt: clock.now().addingTimeInterval(900), tokenID: SecureRandom.token(byteCount: 16),
        authTime: clock.now())
}

/// A test's own failure, with a sentence saying what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Creates the failure.
    public init(_ description: String) { self.description = description }
}
