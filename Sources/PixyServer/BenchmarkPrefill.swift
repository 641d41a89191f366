public import Foundation
public import PixyCore
public import PixyModel

/// Fills a store with live authorization codes and signed-in browser sessions before the server
/// starts, so `Benchmarks/bench-flows` can measure whether a flow costs the same with a thousand
/// or a million of them in the store (docs/performance.md, "Flat cost"). Benchmarks only: the
/// records are shaped like real ones (a 256-bit code's SHA-256 as the key, an S256 challenge, a
/// signed-in session) but belong to nobody, and they expire like real ones.
public struct BenchmarkPrefill: Sendable {
    /// How many codes to store.
    public var codes: Int
    /// How many signed-in sessions to store.
    public var sessions: Int
    /// How long each prefilled record lives: longer than a real code (at most 600 s), so that
    /// none expires during a slow prefill of a later step or the measured run after it.
    public var lifetime: Duration = .seconds(3600)
    /// How many writes run at once: a shared store over the network needs many in flight.
    public var concurrency: Int = 64

    /// A prefill of `codes` codes and `sessions` sessions.
    public init(codes: Int, sessions: Int) {
        self.codes = codes
        self.sessions = sessions
    }

    /// Writes the records through `stores` (the same store protocols the endpoints use) and
    /// returns how many of each were written.
    public func run(into stores: PixyStores, issuer: String, clock: any WallClock) async throws -> (
        codes: Int, sessions: Int
    ) {
        let now = clock.now()
        let expiresAt = now.addingTimeInterval(lifetime.timeInterval)
        let lifetime = self.lifetime
        let challenge = CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!
        let code = AuthorizationCodeRecord(
            clientID: ClientID("benchmark-prefill-client"), redirectURI: "http://127.0.0.1:9999/cb",
            codeChallenge: challenge, scope: Scope(validatedTokens: ["mcp"]), resource: nil,
            subject: UUID().uuidString.lowercased(), issuer: issuer, authTime: now, expiresAt: expiresAt)
        try await forEachIndex(upTo: codes) { _ in
            try await stores.codes.storeCode(
                code, codeHash: SecretHash.sha256Hex(SecureRandom.token(byteCount: 32)), ttl: lifetime)
        }
        try await forEachIndex(upTo: sessions) { _ in
            var session = BrowserSession(
                csrfToken: SecureRandom.token(), userID: code.subject, authTime: now, expiresAt: expiresAt)
            session.userSessionVersion = 0
            session.pendingAuthorizations = 0
            try await stores.interactions.saveSession(
                session, key: SecretHash.sha256Hex(SecureRandom.token()), ttl: lifetime)
        }
        return (codes, sessions)
    }

    /// Calls `body` once for each index below `count`, `concurrency` at a time.
    private func forEachIndex(upTo count: Int, _ body: @escaping @Sendable (Int) async throws -> Void)
        async throws
    {
        let workers = max(1, min(concurrency, count))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var index = worker
                    while index < count {
                        try await body(index)
                        index += workers
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
