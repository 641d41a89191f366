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

    @Test("One write clears at most a bounded batch of due entries, so no write stalls on a burst")
    func sweepIsBoundedPerWrite() async throws {
        let store = InMemoryStore(clock: clock)
        for index in 0..<600 {
            try await store.saveSession(session(), key: "s\(index)", ttl: .seconds(60))
        }
        clock.advance(by: .seconds(61))
        try await store.saveSession(session(), key: "new", ttl: .seconds(60))
        #expect(store.heldCounts.entries == 600 - 64 + 1, "64 cleared by this write, the rest by later ones")
    }

    @Test("Rewriting a key, in any expiring map, adds no deadline: the heap holds one per entry")
    func rewritesAddNoDeadlines() async throws {
        let store = InMemoryStore(clock: clock)
        let marker = UsedCodeMarker(clientID: "c", codeChallenge: code().codeChallenge, tokenIDs: [], tokensExpireAt: clock.now())
        let pending = PendingAuthorization(
            request: AuthorizationRequest(
                clientID: "c", redirectURI: "http://127.0.0.1/cb", redirectURIWasSent: true,
                codeChallenge: code().codeChallenge, scope: Scope(validatedTokens: ["read"]), resource: nil, state: nil),
            sessionKey: "s", expiresAt: clock.now().addingTimeInterval(600))
        for round in 1...100 {
            try await store.saveSession(session(), key: "k", ttl: .seconds(60 + round))
            try await store.savePendingAuthorization(pending, key: "k", ttl: .seconds(60 + round))
            try await store.markCodeUsed(codeHash: "k", marker, ttl: .seconds(60 + round))
            try await store.revokeToken(id: "k", expiresAt: clock.now().addingTimeInterval(Double(60 + round)))
        }
        #expect(store.heldCounts.entries == 4)
        #expect(store.heldCounts.deadlines == 4, "one deadline per entry, not one per write")
        clock.advance(by: .seconds(100))
        try await store.saveSession(session(), key: "other", ttl: .seconds(1000))
        #expect(try await store.session(key: "k") != nil, "still live at 100 s of 160: re-armed, not removed")
        #expect(try await store.usedCodeMarker(codeHash: "k") != nil)
        #expect(try await store.pendingAuthorization(key: "k") != nil)
        #expect(try await store.isTokenRevoked(id: "k"))
        #expect(store.heldCounts.deadlines == 5)
        clock.advance(by: .seconds(61))
        try await store.saveSession(session(), key: "last", ttl: .seconds(1000))
        #expect(store.heldCounts.entries == 2, "all four swept at their own expiry; two sessions remain")
        #expect(try await !store.isTokenRevoked(id: "k"))
    }

    @Test("A grant whose expiry moves later lives on past its first deadline, and goes at its new one")
    func movedGrantExpiryIsRearmed() async throws {
        let store = InMemoryStore(clock: clock)
        try await store.createGrant(grant(id: "g", tokenHash: "h1", lifetime: 100))
        let later = clock.now().addingTimeInterval(300)
        _ = try await store.updateGrant(id: "g") { grant -> GrantUpdate<Void> in
            grant.expiresAt = later
            return .save((), newTokenHash: nil)
        }
        clock.advance(by: .seconds(150))
        for index in 0..<3 {
            try await store.saveSession(session(), key: "a\(index)", ttl: .seconds(1000))
        }
        #expect(try await store.grant(withID: "g") != nil, "past its first deadline, before its new expiry")
        #expect(
            try await store.updateGrant(refreshTokenHash: "h1") { _ in GrantUpdate<Bool>.keep(true) } == true,
            "its refresh-token index entry lives on with it")
        clock.advance(by: .seconds(151))
        for index in 0..<3 {
            try await store.saveSession(session(), key: "b\(index)", ttl: .seconds(1000))
        }
        #expect(try await store.grant(withID: "g") == nil)
        #expect(store.heldCounts.entries == 6, "grant and index entry gone; six sessions remain")
    }
}
