import Foundation
import PixyCore
import PixyModel
import PixyTesting
import Testing

/// The memory store removes what has expired as later writes come, in expiry order, and never
/// removes what still lives (Sources/PixyCore/Storage/InMemoryStore.swift).
@Suite("Memory store: expired entries are swept, live ones never")
struct InMemoryStoreSweepTests {
    private let clock = ManualClock()

    private func code() -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(
            clientID: "c", redirectURI: "http://127.0.0.1/cb",
            codeChallenge: CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!,
            scope: Scope(validatedTokens: ["read"]), resource: nil, subject: "u", issuer: "http://127.0.0.1",
            authTime: clock.now(), expiresAt: clock.now().addingTimeInterval(60))
    }

    private func session() -> BrowserSession {
        BrowserSession(csrfToken: "t", userID: "u", authTime: clock.now(), expiresAt: clock.now().addingTimeInterval(60))
    }

    private func grant(id: String, tokenHash: String, lifetime: TimeInterval) -> Grant {
        Grant(
            id: id, clientID: "c", subject: "u", scope: Scope(validatedTokens: ["read"]), resource: nil,
            authTime: clock.now(), createdAt: clock.now(), expiresAt: clock.now().addingTimeInterval(lifetime),
            idleExpiresAt: clock.now().addingTimeInterval(lifetime), currentTokenHash: tokenHash)
    }

    @Test("Codes, sessions and used-code markers past their TTL are gone after later writes")
    func expiredEntriesAreRemoved() async throws {
        let store = InMemoryStore(clock: clock)
        for index in 0..<200 {
            try await store.storeCode(code(), codeHash: "code-\(index)", ttl: .seconds(60))
            try await store.saveSession(session(), key: "session-\(index)", ttl: .seconds(60))
            try await store.markCodeUsed(
                codeHash: "used-\(index)",
                UsedCodeMarker(
                    clientID: "c", codeChallenge: code().codeChallenge, tokenIDs: [], tokensExpireAt: clock.now()),
                ttl: .seconds(60))
        }
        #expect(store.heldCounts.entries == 600)
        clock.advance(by: .seconds(61))
        // Each write clears a bounded batch; enough writes clear all 600.
        for index in 0..<20 {
            try await store.saveSession(session(), key: "late-\(index)", ttl: .seconds(60))
        }
        #expect(store.heldCounts.entries == 20, "only the 20 live sessions remain")
        #expect(store.heldCounts.deadlines == 20, "and only their deadlines")
        #expect(try await store.session(key: "late-0") != nil)
    }

    @Test("An entry rewritten with a later expiry outlives its first deadline")
    func rewrittenEntryLivesOn() async throws {
        let store = InMemoryStore(clock: clock)
        try await store.saveSession(session(), key: "k", ttl: .seconds(10))
        try await store.saveSession(session(), key: "k", ttl: .seconds(100))
        clock.advance(by: .seconds(50))
        try await store.saveSession(session(), key: "other", ttl: .seconds(100))
        #expect(try await store.session(key: "k") != nil, "the first deadline came, but the entry lives to 100 s")
        #expect(store.heldCounts.entries == 2)
        clock.advance(by: .seconds(51))
        try await store.saveSession(session(), key: "third", ttl: .seconds(100))
        #expect(try await store.session(key: "k") == nil)
        #expect(store.heldCounts.entries == 2, "k is swept once its own deadline comes")
    }

    @Test("A grant and its refresh-token index entries are swept together at the grant's end")
    func grantsAndIndexSweptTogether() async throws {
        let store = InMemoryStore(clock: clock)
        try await store.createGrant(grant(id: "g", tokenHash: "h1", lifetime: 100))
        let rotated = try await store.updateGrant(refreshTokenHash: "h1") { grant -> GrantUpdate<Bool> in
            grant.currentTokenHash = "h2"
            grant.previousTokenHash = "h1"
            return .save(true, newTokenHash: "h2")
        }
        #expect(rotated == true)
        #expect(store.heldCounts.entries == 3, "the grant and two index entries")
        clock.advance(by: .seconds(50))
        try await store.saveSession(session(), key: "s", ttl: .seconds(1000))
        #expect(try await store.grant(withID: "g") != nil)
        #expect(store.heldCounts.entries == 4)
        clock.advance(by: .seconds(51))
        for index in 0..<3 {
            try await store.saveSession(session(), key: "s\(index)", ttl: .seconds(1000))
        }
        #expect(try await store.grant(withID: "g") == nil)
        #expect(store.heldCounts.entries == 4, "grant and index entries gone; the four sessions remain")
    }
}
