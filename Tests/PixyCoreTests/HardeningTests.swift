import Foundation
@testable import PixyCore
import PixyModel
import PixyTesting
import Synchronization
import Testing

/// docs/threat-model.md, "offboarding": removing a user or a client, or revoking a grant,
/// stops its refresh tokens and its access tokens at once.
@Suite("Offboarding: removing a user or client revokes what it holds")
struct OffboardingTests {
    func offboarding(_ fixture: RefreshFixture) -> Offboarding {
        Offboarding(stores: PixyStores(fixture.store), policy: fixture.tokens.core.policy, clock: fixture.clock)
    }

    func introspection(_ fixture: RefreshFixture) -> TokenIntrospection {
        TokenIntrospection(
            clients: fixture.store, users: fixture.store, verifier: fixture.tokens.issuer, tokenStatus: fixture.store,
            clock: fixture.clock)
    }

    func isActive(_ token: String, _ fixture: RefreshFixture) async throws -> Bool {
        try await introspection(fixture).handle(FormParameters([("token", token)]), basic: ("secret-basic", "s3cret")).active
    }

    @Test("Removing a user revokes their grants: refresh fails, introspection says inactive")
    func removingUserRevokes() async throws {
        let fixture = try await RefreshFixture()
        let tokens = try await fixture.start()
        let refreshToken = try #require(tokens.refreshToken)
        #expect(try await isActive(tokens.accessToken, fixture))
        let revoked = try #require(try await offboarding(fixture).removeUser(named: "Alice"))
        #expect(revoked.count == 1)
        #expect(try await !isActive(tokens.accessToken, fixture))
        #expect(try await fixture.isRevoked(tokens.accessToken))
        #expect(await fixture.refresh(refreshToken).errorCode == .invalidGrant)
        #expect(try await fixture.store.user(named: "alice") == nil)
    }

    @Test("A removed user's tokens are refused even when no grant was revoked (no family, or a failure between the steps)")
    func removedUserIsRefusedWithoutRevocation() async throws {
        let fixture = try await RefreshFixture()
        let tokens = try await fixture.start()
        let refreshToken = try #require(tokens.refreshToken)
        #expect(try await fixture.store.removeUser(named: "alice"))  // the row only, no revocation
        #expect(try await !isActive(tokens.accessToken, fixture))
        #expect(await fixture.refresh(refreshToken).errorCode == .invalidGrant)
        #expect(try await fixture.grant(of: refreshToken)?.revokedAt != nil, "the family is revoked on first use")
    }

    @Test("Removing a client revokes its grants, and its tokens are inactive")
    func removingClientRevokes() async throws {
        let fixture = try await RefreshFixture()
        let tokens = try await fixture.start()
        let refreshToken = try #require(tokens.refreshToken)
        let revoked = try #require(try await offboarding(fixture).removeClient(withID: "refresher"))
        #expect(revoked.count == 1)
        #expect(try await !isActive(tokens.accessToken, fixture))
        #expect(try await fixture.grant(of: refreshToken)?.revokedAt != nil)
        #expect(await fixture.refresh(refreshToken).errorCode == .invalidClient)
    }

    @Test("Revoking a user's grants (pixy grants revoke --user) stops refresh and access tokens, and leaves others alone")
    func revokingGrantsOfUser() async throws {
        let fixture = try await RefreshFixture()
        let first = try await fixture.start()
        let second = try await fixture.start()
        try await fixture.store.save(User(id: "user-2", username: "bob", passwordHash: "-", createdAt: fixture.clock.now()))
        #expect(try await fixture.store.grants(of: .user(id: "user-1")).count == 2)
        #expect(try await fixture.store.grants(of: .client("refresher")).count == 2)
        #expect(try await fixture.store.grants(of: .user(id: "user-2")).isEmpty)
        let firstRefreshToken = try #require(first.refreshToken)
        let firstGrant = try #require(try await fixture.grant(of: firstRefreshToken))
        #expect(try await offboarding(fixture).revokeGrant(id: firstGrant.id))
        #expect(try await !isActive(first.accessToken, fixture))
        #expect(try await isActive(second.accessToken, fixture), "only that grant")
        #expect(try await offboarding(fixture).revokeGrants(of: .user(id: "user-1")).count == 1)
        #expect(try await !isActive(second.accessToken, fixture))
        #expect(await fixture.refresh(try #require(second.refreshToken)).errorCode == .invalidGrant)
    }

    @Test("A password change ends the user's browser sessions; other users' sessions stay")
    func passwordChangeEndsSessions() async throws {
        let fixture = try await RefreshFixture()
        let user = try #require(try await fixture.store.user(named: "alice"))
        let session = BrowserSession(
            csrfToken: "c", userID: user.id, authTime: fixture.clock.now(),
            expiresAt: fixture.clock.now().addingTimeInterval(3600))
        #expect(try await SessionValidity.signedInUser(of: session, users: fixture.store)?.id == user.id)
        #expect(try await offboarding(fixture).changePassword(of: "ALICE", toHash: "new-hash"))
        #expect(try await SessionValidity.signedInUser(of: session, users: fixture.store) == nil)
        var fresh = session
        fresh.userSessionVersion = 1
        #expect(try await SessionValidity.signedInUser(of: fresh, users: fixture.store)?.passwordHash == "new-hash")
    }
}

@Suite("Input hygiene: control characters and one canonical username")
struct InputHygieneTests {
    @Test(
        "RFC 6749 Appendix A: NUL and other control characters are refused in any decoded parameter",
        arguments: ["username=alice%00x", "client_id=pub%00junk", "state=a%0Ab", "x=%7F", "a%09b=1", "state=a\u{01}b"])
    func controlCharactersRefused(query: String) {
        #expect(FormParameters(urlEncoded: query) == nil)
    }

    @Test("Ordinary parameters still decode, spaces and UTF-8 included")
    func ordinaryParametersDecode() throws {
        let parameters = try #require(FormParameters(urlEncoded: "username=J%C3%BCrgen+M&scope=read+write"))
        #expect(parameters.values("username") == ["Jürgen M"])
        #expect(parameters.values("scope") == ["read write"])
    }

    @Test("Usernames have one canonical form: case and Unicode normalization do not make a second account")
    func canonicalUsernames() {
        #expect(Username.canonical("Alice") == "alice")
        #expect(Username.canonical("e\u{301}lodie") == Username.canonical("\u{e9}lodie"))
        #expect(Username.problem(with: "alice\u{200B}") != nil)
        #expect(Username.problem(with: "al\u{202E}ice") != nil)
        #expect(Username.problem(with: " alice") != nil)
        #expect(Username.problem(with: "alice") == nil)
    }
}

@Suite("Login limits hold under concurrency")
struct LoginConcurrencyTests {
    @Test("30 parallel attempts for one account: exactly 5 are counted through, the rest refused before any password check")
    func parallelReservations() async throws {
        let throttle = LoginThrottle(clock: ManualClock())
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<30 {
                group.addTask { (try? await throttle.reserve(account: "user-1", source: "10.0.0.\(index)")) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
    }

    @Test("A success forgets the account's failures and gives the source its attempt back")
    func successReleases() async throws {
        let throttle = LoginThrottle(clock: ManualClock())
        for _ in 0..<4 { _ = try #require(try await throttle.reserve(account: "user-1", source: "1.1.1.1")) }
        let last = try #require(try await throttle.reserve(account: "user-1", source: "1.1.1.1"))
        #expect(try await throttle.reserve(account: "user-1", source: "1.1.1.1") == nil)
        try await throttle.succeeded(last)
        #expect(try await throttle.reserve(account: "user-1", source: "1.1.1.1") != nil)
        // Many successful sign-ins from one address (an office) never lock that address out.
        for index in 0..<40 {
            let reservation = try #require(try await throttle.reserve(account: "user-\(index + 10)", source: "2.2.2.2"))
            try await throttle.succeeded(reservation)
        }
    }

    @Test("Password checks in flight are capped overall and per account; beyond the cap the answer comes at once")
    func workLimiterCaps() async throws {
        let limiter = WorkLimiter(maximumInFlight: 3, maximumInFlightPerKey: 2)
        let gate = Gate()
        let started = Counter()
        async let a: Int? = limiter.run(key: "alice") {
            started.increment(); await gate.wait(); return 1
        }
        async let b: Int? = limiter.run(key: "alice") {
            started.increment(); await gate.wait(); return 2
        }
        async let c: Int? = limiter.run(key: "bob") {
            started.increment(); await gate.wait(); return 3
        }
        while started.value < 3 { await Task.yield() }
        #expect(limiter.inFlight == 3)
        #expect(try await limiter.run(key: "carol") { 4 } == nil, "full overall: refused at once")
        gate.open()
        let results = try await [a, b, c]
        #expect(results == [1, 2, 3])
        #expect(limiter.inFlight == 0)
        let perKey = WorkLimiter(maximumInFlight: 10, maximumInFlightPerKey: 1)
        let gate2 = Gate()
        let started2 = Counter()
        async let d: Int? = perKey.run(key: "alice") {
            started2.increment(); await gate2.wait(); return 1
        }
        while started2.value < 1 { await Task.yield() }
        #expect(try await perKey.run(key: "alice") { 2 } == nil, "one account: refused at once")
        #expect(try await perKey.run(key: "bob") { 3 } == 3)
        gate2.open()
        #expect(try await d == 1)
    }
}

/// Opens once; every waiter then continues. Event-driven, no timing.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

@Suite("Refresh families: bounded retry window, flat cost")
struct RefreshHardeningTests {
    @Test("RFC 9700 §4.14.2: the previous token is an idempotent retry only within the window; after it, it is reuse")
    func retryWindowIsBounded() async throws {
        let fixture = try await RefreshFixture()
        let first = try await fixture.start()
        let rt1 = try #require(first.refreshToken)
        let rotated = try await fixture.refresh(rt1).get()
        fixture.clock.advance(by: .seconds(59))
        #expect(try await fixture.refresh(rt1).get().refreshToken == rotated.refreshToken, "a retry within 60 s gets the same token")
        fixture.clock.advance(by: .seconds(2))
        #expect(await fixture.refresh(rt1).errorCode == .invalidGrant, "61 s after the rotation the previous token is reuse")
        #expect(await fixture.refresh(try #require(rotated.refreshToken)).errorCode == .invalidGrant, "the family is revoked")
        #expect(try await fixture.isRevoked(rotated.accessToken))
    }

    @Test("A thief alternating with the victim is detected once the window has passed")
    func alternatingThiefIsDetected() async throws {
        let fixture = try await RefreshFixture()
        let stolen = try #require(try await fixture.start().refreshToken)
        let victim = try #require(try await fixture.refresh(stolen).get().refreshToken)  // the victim rotates
        fixture.clock.advance(by: .seconds(120))
        #expect(await fixture.refresh(stolen).errorCode == .invalidGrant)  // the thief comes back late
        #expect(await fixture.refresh(victim).errorCode == .invalidGrant, "the family died with the reuse")
    }

    @Test("The grant record does not grow with refreshes: the 500th costs the same bytes as the 1st")
    func grantDoesNotGrow() async throws {
        let fixture = try await RefreshFixture()
        var token = try #require(try await fixture.start().refreshToken)
        token = try #require(try await fixture.refresh(token).get().refreshToken)
        let early = try StoredRecordCoding.encode(try #require(try await fixture.grant(of: token))).utf8.count
        for _ in 0..<500 { token = try #require(try await fixture.refresh(token).get().refreshToken) }
        let late = try StoredRecordCoding.encode(try #require(try await fixture.grant(of: token))).utf8.count
        #expect(late <= early + 4, "only the generation counter's digits may grow")
    }

    @Test("Access tokens carry their grant's id, and revoking the grant revokes every one of them")
    func grantMarkerRevokesAllAccessTokens() async throws {
        let fixture = try await RefreshFixture()
        let first = try await fixture.start()
        var token = try #require(first.refreshToken)
        var accessTokens = [first.accessToken]
        for _ in 0..<5 {
            let next = try await fixture.refresh(token).get()
            accessTokens.append(next.accessToken)
            token = try #require(next.refreshToken)
        }
        let grant = try #require(try await fixture.grant(of: token))
        #expect(fixture.tokens.issuer.issued.all.allSatisfy { $0.grantID == grant.id })
        try await GrantRevocation.revoke(
            grantID: grant.id, grants: fixture.store, tokenStatus: fixture.store,
            policy: fixture.tokens.core.policy, now: fixture.clock.now())
        for accessToken in accessTokens { #expect(try await fixture.isRevoked(accessToken)) }
    }
}

@Suite("RFC 9700 §4.11.2: no open redirect through self-registered clients")
struct ErrorRedirectPolicyTests {
    @Test("Errors before sign-in are redirected only for operator-registered clients")
    func policy() {
        let now = Date()
        let operatorClient = Client(clientID: "op", redirectURIs: ["https://op.example/cb"], createdAt: now)
        let registered = Client(clientID: "dcr", redirectURIs: ["https://evil.example/cb"], isDynamicallyRegistered: true, createdAt: now)
        var document = Client(clientID: "https://evil.example/c.json", redirectURIs: ["https://evil.example/cb"], createdAt: now)
        document.isMetadataDocument = true
        #expect(ErrorRedirectPolicy.mayRedirect(for: operatorClient, userIsSignedIn: false))
        #expect(!ErrorRedirectPolicy.mayRedirect(for: registered, userIsSignedIn: false))
        #expect(!ErrorRedirectPolicy.mayRedirect(for: document, userIsSignedIn: false))
        #expect(ErrorRedirectPolicy.mayRedirect(for: registered, userIsSignedIn: true))
    }

    @Test("An over-long state is refused and never echoed")
    func longState() async throws {
        let core = try await CoreFixture()
        do {
            _ = try await core.validator.validate(CoreFixture.parameters(["state": String(repeating: "s", count: 1025)]))
            Issue.record("accepted a 1025-byte state")
        } catch {
            #expect(error.error.code == .invalidRequest)
            #expect(error.redirect?.state == nil)
        }
        _ = try await core.validator.validate(CoreFixture.parameters(["state": String(repeating: "s", count: 1024)]))
    }
}

@Suite("RFC 7662 §4: only resource servers may introspect")
struct IntrospectionAccessTests {
    @Test("A self-registered confidential client, or one not marked as a resource server, cannot introspect")
    func onlyResourceServers() async throws {
        let fixture = try await RefreshFixture()
        let tokens = try await fixture.start()
        let now = fixture.clock.now()
        try await fixture.store.save(
            Client(
                clientID: "dcr-confidential", redirectURIs: ["https://x.example/cb"],
                tokenEndpointAuthMethod: .clientSecretBasic, secretHash: SecretHash.sha256Hex("pw"),
                isDynamicallyRegistered: true, createdAt: now))
        var unmarked = Client(
            clientID: "unmarked", redirectURIs: ["https://x.example/cb"], tokenEndpointAuthMethod: .clientSecretBasic,
            secretHash: SecretHash.sha256Hex("pw"), createdAt: now)
        unmarked.isResourceServer = false
        try await fixture.store.save(unmarked)
        var marked = unmarked
        marked.clientID = "marked"
        marked.isResourceServer = true
        try await fixture.store.save(marked)
        let introspection = TokenIntrospection(
            clients: fixture.store, users: fixture.store, verifier: fixture.tokens.issuer,
            tokenStatus: fixture.store, clock: fixture.clock)
        for id in ["dcr-confidential", "unmarked"] {
            do {
                _ = try await introspection.handle(FormParameters([("token", tokens.accessToken)]), basic: (id, "pw"))
                Issue.record("\(id) could introspect")
            } catch {
                #expect(error.code == .unauthorizedClient)
            }
        }
        #expect(try await introspection.handle(FormParameters([("token", tokens.accessToken)]), basic: ("marked", "pw")).active)
    }
}

@Suite("Client bookkeeping")
struct ClientBookkeepingTests {
    @Test("Recording a client's last use does not bring back a client pruned meanwhile")
    func lastUseDoesNotResurrect() async throws {
        let fixture = try await TokenFixture()
        let now = fixture.core.clock.now()
        let client = Client(clientID: "dcr-pruned", redirectURIs: ["https://a.example/cb"], isDynamicallyRegistered: true, createdAt: now)
        try await fixture.core.store.save(client)
        fixture.core.clock.advance(by: .seconds(2 * 86400))
        #expect(try await fixture.core.store.removeClient(withID: "dcr-pruned"))  // pruned while a token request was in flight
        await fixture.endpoint.noteUse(of: client)
        #expect(try await fixture.core.store.client(withID: "dcr-pruned") == nil)
    }
}

/// A code store that holds the first redemption right after it wrote its "used" marker, until
/// the test lets it go: a replay can then be sent into exactly that moment.
final class PausingCodeStore: AuthorizationCodeStore, @unchecked Sendable {
    let base: InMemoryStore
    let marked = Gate()
    let resume = Gate()
    private let paused = Mutex(false)
    init(base: InMemoryStore) { self.base = base }
    func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        try await base.storeCode(record, codeHash: codeHash, ttl: ttl)
    }
    func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? { try await base.consumeCode(codeHash: codeHash) }
    func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? { try await base.usedCodeMarker(codeHash: codeHash) }
    func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try await base.markCodeUsed(codeHash: codeHash, marker, ttl: ttl)
        let first = paused.withLock { wasPaused in
            defer { wasPaused = true }; return !wasPaused
        }
        guard first else { return }
        marked.open()
        await resume.wait()
    }
}

@Suite("RFC 6749 §4.1.2: a replay racing the redemption still revokes what the code produced")
struct ReplayRaceTests {
    @Test("A replay that arrives after the code was marked used, before the grant exists, revokes the grant and the access token")
    func replayBeforeGrantExists() async throws {
        let fixture = try await RefreshFixture()
        let pausing = PausingCodeStore(base: fixture.store)
        let endpoint = TokenEndpoint(
            clients: fixture.store, codes: pausing, tokens: fixture.tokens.issuer, tokenStatus: fixture.store,
            grants: fixture.store, users: fixture.store, policy: fixture.tokens.core.policy, clock: fixture.clock)
        try await Self.replay(into: endpoint, fixture: fixture, heldAt: pausing.marked, release: pausing.resume)
    }

    /// Redeems a code, sends a replay while the redemption is held at `heldAt`, then releases it
    /// and checks that what the code produced is revoked.
    static func replay(into endpoint: TokenEndpoint, fixture: RefreshFixture, heldAt: Gate, release: Gate) async throws {
        let code = try await fixture.tokens.issueCode(["client_id": "refresher", "scope": "read"])
        let form = TokenFixture.form(code: code, clientID: "refresher")
        async let winner = Result { try await endpoint.handle(form, basic: nil) }
        await heldAt.wait()
        do {
            _ = try await endpoint.handle(form, basic: nil)
            Issue.record("the replay succeeded")
        } catch {
            #expect(error.code == .invalidGrant)
        }
        release.open()
        let tokens = try await winner.get()
        #expect(try await fixture.isRevoked(tokens.accessToken), "the winner's access token is revoked")
        #expect(await fixture.refresh(try #require(tokens.refreshToken)).errorCode == .invalidGrant, "and its family")
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// A grant store that holds the first redemption right after it created its grant.
final class PausingGrants: GrantStore, @unchecked Sendable {
    let base: InMemoryStore
    let created = Gate()
    let resume = Gate()
    private let paused = Mutex(false)
    init(base: InMemoryStore) { self.base = base }
    func createGrant(_ grant: Grant) async throws {
        try await base.createGrant(grant)
        let first = paused.withLock { wasPaused in
            defer { wasPaused = true }; return !wasPaused
        }
        guard first else { return }
        created.open()
        await resume.wait()
    }
    func grant(withID id: String) async throws -> Grant? { try await base.grant(withID: id) }
    func updateGrant<R: Sendable>(refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<R>) async throws -> R? {
        try await base.updateGrant(refreshTokenHash: refreshTokenHash, body)
    }
    func updateGrant<R: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<R>) async throws -> R? {
        try await base.updateGrant(id: id, body)
    }
    func grants(of owner: GrantOwner) async throws -> [Grant] { try await base.grants(of: owner) }
}

extension ReplayRaceTests {
    @Test("A replay that arrives while the grant is being created finds the code already marked used and revokes what it produced")
    func replayWhileGrantIsCreated() async throws {
        let fixture = try await RefreshFixture()
        let pausing = PausingGrants(base: fixture.store)
        let endpoint = TokenEndpoint(
            clients: fixture.store, codes: fixture.store, tokens: fixture.tokens.issuer, tokenStatus: fixture.store,
            grants: pausing, users: fixture.store, policy: fixture.tokens.core.policy, clock: fixture.clock)
        try await Self.replay(into: endpoint, fixture: fixture, heldAt: pausing.created, release: pausing.resume)
    }
}
