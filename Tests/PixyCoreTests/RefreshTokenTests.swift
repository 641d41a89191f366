import Foundation
import PixyCore
import PixyModel
import PixyTesting
import Testing

/// A fixture whose client `refresher` gets refresh tokens.
struct RefreshFixture {
    let tokens: TokenFixture

    init(policy: ServerPolicy? = nil) async throws {
        tokens = try await TokenFixture(policy: policy)
    }

    var store: InMemoryStore { tokens.core.store }
    var clock: ManualClock { tokens.core.clock }

    /// Authorize + redeem for `clientID`; returns the token response.
    func start(
        clientID: String = "refresher", scope: String? = "read write", resource: String? = "https://mcp.example.com/",
        secret: String? = nil
    ) async throws -> TokenResponse {
        let code = try await tokens.issueCode(["client_id": clientID, "scope": scope, "resource": resource])
        var extra: [(String, String)] = []
        if let secret { extra.append(("client_secret", secret)) }
        return try await tokens.redeem(TokenFixture.form(code: code, clientID: clientID, extra: extra)).get()
    }

    func refresh(
        _ token: String, clientID: String = "refresher", scope: String? = nil, resource: String? = nil,
        secret: String? = nil
    ) async -> Result<TokenResponse, OAuthError> {
        var pairs = [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", clientID)]
        if let scope { pairs.append(("scope", scope)) }
        if let resource { pairs.append(("resource", resource)) }
        if let secret { pairs.append(("client_secret", secret)) }
        return await tokens.redeem(FormParameters(pairs))
    }

    func grant(of token: String) async throws -> Grant? {
        let result = try await store.updateGrant(refreshTokenHash: SecretHash.sha256Hex(token)) { grant -> GrantUpdate<Grant> in
            .keep(grant)
        }
        return result
    }

    /// Whether the access token was revoked, alone or with its grant (as introspection sees it).
    func isRevoked(_ accessToken: String) async throws -> Bool {
        guard let claims = await tokens.issuer.verifiedClaims(of: accessToken) else { return false }
        return try await GrantRevocation.isRevoked(claims, tokenStatus: store)
    }
}

@Suite("docs/security.md §5: refresh tokens and their families")
struct RefreshTokenTests {
    @Test("§5: a client with the refresh_token grant gets a refresh token; one without does not")
    func issuedOnlyToRefreshClients() async throws {
        let fixture = try await RefreshFixture()
        #expect(try await fixture.start().refreshToken != nil)
        #expect(try await fixture.start(clientID: "app", resource: nil).refreshToken == nil)
    }

    @Test("§5: with offline_access supported, refresh tokens need it in the granted scope")
    func offlineAccess() async throws {
        let policy = ServerPolicy(
            issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write", "offline_access"]))
        let fixture = try await RefreshFixture(policy: policy)
        let code = try await fixture.tokens.issueCode(["client_id": "refresher", "scope": "read"], policy: policy)
        #expect(try await fixture.tokens.redeem(TokenFixture.form(code: code, clientID: "refresher")).get().refreshToken == nil)
        let offline = try await fixture.tokens.issueCode(["client_id": "refresher", "scope": "read offline_access"], policy: policy)
        #expect(try await fixture.tokens.redeem(TokenFixture.form(code: offline, clientID: "refresher")).get().refreshToken != nil)
    }

    @Test("§5: rotation chain RT1→RT2→RT3; reuse of RT1 revokes the family and its access tokens")
    func rotationChainAndReuse() async throws {
        let fixture = try await RefreshFixture()
        let first = try await fixture.start()
        let rt1 = try #require(first.refreshToken)
        let second = try await fixture.refresh(rt1).get()
        let rt2 = try #require(second.refreshToken)
        #expect(rt2 != rt1)
        let third = try await fixture.refresh(rt2).get()
        let rt3 = try #require(third.refreshToken)
        #expect(try await fixture.grant(of: rt3)?.generation == 3)

        #expect(await fixture.refresh(rt1).errorCode == .invalidGrant)
        #expect(try await fixture.grant(of: rt3)?.revokedAt != nil)
        #expect(await fixture.refresh(rt3).errorCode == .invalidGrant, "the whole family is dead")
        for response in [first, second, third] { #expect(try await fixture.isRevoked(response.accessToken)) }
    }

    @Test("§5 decision: the previous token stays usable until the new one is first used, and returns the same new token")
    func lostResponseGetsSameToken() async throws {
        let fixture = try await RefreshFixture()
        let rt1 = try #require(try await fixture.start().refreshToken)
        let rt2 = try #require(try await fixture.refresh(rt1).get().refreshToken)
        // The response carrying RT2 was lost; the client retries with RT1.
        let retried = try await fixture.refresh(rt1).get()
        #expect(retried.refreshToken == rt2, "idempotent: no fork")
        #expect(try await fixture.grant(of: rt2)?.generation == 2)
        // Once RT2 is used, RT1 is an older generation.
        let rt3 = try #require(try await fixture.refresh(rt2).get().refreshToken)
        #expect(await fixture.refresh(rt1).errorCode == .invalidGrant)
        #expect(await fixture.refresh(rt3).errorCode == .invalidGrant, "reuse of RT1 revoked the family")
    }

    @Test("§5: 20 parallel refreshes of one token give at most one new family member")
    func parallelRefreshesNeverFork() async throws {
        let fixture = try await RefreshFixture()
        let rt1 = try #require(try await fixture.start().refreshToken)
        let issued = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<20 { group.addTask { try? await fixture.refresh(rt1).get().refreshToken } }
            return await group.reduce(into: [String]()) { if let token = $1 { $0.append(token) } }
        }
        #expect(Set(issued).count == 1)
        let rt2 = try #require(issued.first)
        #expect(try await fixture.grant(of: rt2)?.generation == 2)
        #expect(try await fixture.refresh(rt2).get().refreshToken != nil, "the family is intact")
    }

    @Test("§5: a failed refresh (wider scope, other resource) changes nothing")
    func failedRefreshChangesNothing() async throws {
        let fixture = try await RefreshFixture()
        let rt1 = try #require(try await fixture.start(scope: "read").refreshToken)
        let before = try await fixture.grant(of: rt1)
        #expect(await fixture.refresh(rt1, scope: "read write").errorCode == .invalidScope)
        #expect(await fixture.refresh(rt1, resource: "https://evil.example/").errorCode == .invalidTarget)
        #expect(await fixture.refresh(rt1, scope: "read\"").errorCode == .invalidScope)
        #expect(try await fixture.grant(of: rt1) == before)
        #expect(try await fixture.refresh(rt1).get().refreshToken != nil)
    }

    @Test("RFC 6749 §6: scope may narrow per request; the grant keeps its full scope")
    func scopeNarrows() async throws {
        let fixture = try await RefreshFixture()
        let rt1 = try #require(try await fixture.start(scope: "read write").refreshToken)
        let narrowed = try await fixture.refresh(rt1, scope: "read").get()
        #expect(narrowed.scope == "read")
        #expect(fixture.tokens.issuer.issued.all.last?.scope.tokens == ["read"])
        let full = try await fixture.refresh(try #require(narrowed.refreshToken)).get()
        #expect(full.scope == "read write")
        #expect(fixture.tokens.issuer.issued.all.last?.audience == "https://mcp.example.com/", "resource stays the audience")
    }

    @Test("§5: refresh tokens have an idle and an absolute lifetime")
    func lifetimes() async throws {
        let policy = ServerPolicy(
            issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write"]),
            refreshTokenLifetime: .seconds(1000), refreshTokenIdleLifetime: .seconds(300))
        let fixture = try await RefreshFixture(policy: policy)
        var token = try #require(try await fixture.start().refreshToken)
        for _ in 0..<3 {
            fixture.clock.advance(by: .seconds(290))
            token = try #require(try await fixture.refresh(token).get().refreshToken, "used within the idle window")
        }
        fixture.clock.advance(by: .seconds(150))  // 1020 s since the start: past the absolute lifetime
        #expect(await fixture.refresh(token).errorCode == .invalidGrant)

        let idle = try await RefreshFixture(policy: policy)
        let unused = try #require(try await idle.start().refreshToken)
        idle.clock.advance(by: .seconds(301))
        #expect(await idle.refresh(unused).errorCode == .invalidGrant)
    }

    @Test("§5: a refresh token is bound to its client; another client's attempt changes nothing")
    func boundToClient() async throws {
        let fixture = try await RefreshFixture()
        let rt1 = try #require(try await fixture.start().refreshToken)
        let before = try await fixture.grant(of: rt1)
        #expect(await fixture.refresh(rt1, clientID: "secret-refresher", secret: "r3fresh").errorCode == .invalidGrant)
        #expect(try await fixture.grant(of: rt1) == before)
    }

    @Test("§5: rotation can be switched off for confidential clients, never for public ones")
    func confidentialRotationSwitch() async throws {
        let policy = ServerPolicy(
            issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write"]),
            rotatesConfidentialRefreshTokens: false)
        let fixture = try await RefreshFixture(policy: policy)
        let confidential = try #require(try await fixture.start(clientID: "secret-refresher", secret: "r3fresh").refreshToken)
        let response = try await fixture.refresh(confidential, clientID: "secret-refresher", secret: "r3fresh").get()
        #expect(response.refreshToken == nil, "keep using the same token")
        #expect(
            try await fixture.refresh(confidential, clientID: "secret-refresher", secret: "r3fresh").get().accessToken.hasPrefix("token-"))
        let publicToken = try #require(try await fixture.start().refreshToken)
        #expect(try await fixture.refresh(publicToken).get().refreshToken != nil)
    }

    @Test("§3 + §5: replaying the code that started a family revokes the family")
    func codeReplayRevokesFamily() async throws {
        let fixture = try await RefreshFixture()
        let code = try await fixture.tokens.issueCode(["client_id": "refresher"])
        let response = try await fixture.tokens.redeem(TokenFixture.form(code: code, clientID: "refresher")).get()
        let rt1 = try #require(response.refreshToken)
        #expect(await fixture.tokens.redeem(TokenFixture.form(code: code, clientID: "refresher")).errorCode == .invalidGrant)
        #expect(await fixture.refresh(rt1).errorCode == .invalidGrant)
    }

    @Test("§9: revoking a refresh token revokes its family and the access tokens it issued")
    func revokeRefreshToken() async throws {
        let fixture = try await RefreshFixture()
        let first = try await fixture.start()
        let rt1 = try #require(first.refreshToken)
        let second = try await fixture.refresh(rt1).get()
        let revocation = TokenRevocation(
            clients: fixture.store, verifier: fixture.tokens.issuer, tokenStatus: fixture.store,
            grants: fixture.store, policy: ServerPolicy(issuer: "https://auth.example.com"), clock: fixture.clock)
        let foreign = try await revocation.handle(FormParameters([("token", rt1), ("client_id", "app")]), basic: nil)
        #expect(foreign == .foreign)
        #expect(try await fixture.grant(of: rt1)?.revokedAt == nil)
        let outcome = try await revocation.handle(FormParameters([("token", rt1), ("client_id", "refresher")]), basic: nil)
        #expect(outcome == .revoked)
        #expect(await fixture.refresh(try #require(second.refreshToken)).errorCode == .invalidGrant)
        #expect(try await fixture.isRevoked(first.accessToken))
        #expect(try await fixture.isRevoked(second.accessToken))
    }

    @Test("§5: refresh tokens are stored only as hashes; the newest is sealed, never in plaintext")
    func noPlaintextRefreshTokens() async throws {
        let fixture = try await RefreshFixture()
        let rt1 = try #require(try await fixture.start().refreshToken)
        let rt2 = try #require(try await fixture.refresh(rt1).get().refreshToken)
        let grant = try #require(try await fixture.grant(of: rt2))
        let encoded = String(decoding: try JSONEncoder().encode(grant), as: UTF8.self)
        #expect(!encoded.contains(rt1) && !encoded.contains(rt2))
        #expect(grant.currentTokenHash == SecretHash.sha256Hex(rt2))
    }
}
