import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import PixyCore
import PixyModel
import PixyServer
import PixyTesting
import Synchronization
import Testing

/// Wraps a store and throws from every call once `isBroken` is set: a store outage.
final class BreakableStore: PixyStorageBackend {
    let base: InMemoryStore
    let broken = Atomic<Bool>(false)
    /// Breaks sessions and pending authorizations only: a failure after /authorize validated the client.
    let interactionsBroken = Atomic<Bool>(false)
    let error: StorageError
    init(_ base: InMemoryStore, error: StorageError = .failed("store unreachable")) {
        self.base = base
        self.error = error
    }

    func check() throws { if broken.load(ordering: .relaxed) { throw error } }
    func checkInteractions() throws {
        try check()
        if interactionsBroken.load(ordering: .relaxed) { throw error }
    }

    func client(withID clientID: ClientID) async throws -> Client? { try check(); return try await base.client(withID: clientID) }
    func save(_ client: Client) async throws { try check(); try await base.save(client) }
    func replaceIfPresent(_ client: Client) async throws -> Bool { try check(); return try await base.replaceIfPresent(client) }
    func removeClient(withID clientID: ClientID) async throws -> Bool { try check(); return try await base.removeClient(withID: clientID) }
    func allClients() async throws -> [Client] { try check(); return try await base.allClients() }
    func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        try check(); return try await base.client(withRegistrationFingerprint: fingerprint)
    }
    func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        try check(); try await base.storeCode(record, codeHash: codeHash, ttl: ttl)
    }
    func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        try check(); return try await base.consumeCode(codeHash: codeHash)
    }
    func consumeCode<Redemption: Sendable>(
        codeHash: String, markingUsedFor ttl: Duration,
        after redeem: @Sendable (AuthorizationCodeRecord) throws -> (marker: UsedCodeMarker, redemption: Redemption)
    ) async throws -> Redemption? {
        try check(); return try await base.consumeCode(codeHash: codeHash, markingUsedFor: ttl, after: redeem)
    }
    func user(named username: String) async throws -> User? { try check(); return try await base.user(named: username) }
    func user(withID id: String) async throws -> User? { try check(); return try await base.user(withID: id) }
    func save(_ user: User) async throws { try check(); try await base.save(user) }
    func removeUser(named username: String) async throws -> Bool { try check(); return try await base.removeUser(named: username) }
    func allUsers() async throws -> [User] { try check(); return try await base.allUsers() }
    func allSigningKeys() async throws -> [SigningKeyRecord] { try check(); return try await base.allSigningKeys() }
    func save(_ key: SigningKeyRecord) async throws { try check(); try await base.save(key) }
    func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        try checkInteractions(); try await base.saveSession(session, key: key, ttl: ttl)
    }
    func session(key: String) async throws -> BrowserSession? { try checkInteractions(); return try await base.session(key: key) }
    func deleteSession(key: String) async throws { try check(); try await base.deleteSession(key: key) }
    func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        try checkInteractions(); try await base.savePendingAuthorization(pending, key: key, ttl: ttl)
    }
    func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try checkInteractions(); return try await base.pendingAuthorization(key: key)
    }
    func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try checkInteractions(); return try await base.consumePendingAuthorization(key: key)
    }
    func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        try check(); try await base.revokeToken(id: tokenID, expiresAt: expiresAt)
    }
    func isTokenRevoked(id tokenID: String) async throws -> Bool { try check(); return try await base.isTokenRevoked(id: tokenID) }
    func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try check(); try await base.markCodeUsed(codeHash: codeHash, marker, ttl: ttl)
    }
    func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try check(); return try await base.usedCodeMarker(codeHash: codeHash)
    }
    func createGrant(_ grant: Grant) async throws { try check(); try await base.createGrant(grant) }
    func grant(withID id: String) async throws -> Grant? { try check(); return try await base.grant(withID: id) }
    func grants(of owner: GrantOwner) async throws -> [Grant] { try check(); return try await base.grants(of: owner) }
    func updateGrant<Result: Sendable>(refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws
        -> Result?
    {
        try check(); return try await base.updateGrant(refreshTokenHash: refreshTokenHash, body)
    }
    func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        try check(); return try await base.consent(userID: userID, clientID: clientID, resource: resource)
    }
    func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        try check(); try await base.saveConsent(record, userID: userID, clientID: clientID, resource: resource)
    }
    func forgetConsents(userID: String, clientID: ClientID) async throws {
        try check(); try await base.forgetConsents(userID: userID, clientID: clientID)
    }
    func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        try check(); return try await base.updateGrant(id: id, body)
    }
}

@Suite("docs/security.md §10: fail closed")
struct FailClosedTests {
    @Test(
        "§10: /ready answers 503 (never cached) while the store is unreachable and 200 again after, probing at most once a second; /health stays 200"
    )
    func readiness() async throws {
        let harness = try await TestHarness.make()
        let store = BreakableStore(harness.store, error: .unavailable("redis: connection refused"))
        let app = try await buildApplication(
            configuration: harness.configuration, stores: PixyStores(store), clock: harness.clock,
            logger: harness.logs.logger())
        try await app.test(.router) { client in
            let up = try await client.execute(uri: "/ready", method: .get)
            #expect(up.status == .ok)
            #expect(try json(up)["status"] as? String == "ready")
            #expect(up.headers[.cacheControl] == "no-store")

            store.broken.store(true, ordering: .relaxed)
            let cached = try await client.execute(uri: "/ready", method: .get)
            #expect(cached.status == .ok, "within a second the last probe's answer stands: /ready adds no load")
            harness.clock.advance(by: .seconds(2))
            let down = try await client.execute(uri: "/ready", method: .get)
            #expect(down.status == .serviceUnavailable)
            #expect(try json(down)["status"] as? String == "unavailable")
            #expect(down.headers[.cacheControl] == "no-store")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok, "the process itself is alive")

            store.broken.store(false, ordering: .relaxed)
            harness.clock.advance(by: .seconds(2))
            #expect(try await client.execute(uri: "/ready", method: .get).status == .ok)
        }
        #expect(harness.logs.allLines.contains { $0.contains("not ready") })
    }

    @Test("Request ids: a caller's safe X-Request-ID is echoed and logged; anything else is replaced by a fresh id")
    func requestIDs() async throws {
        let harness = try await TestHarness.make()
        let app = try await harness.application()
        try await app.test(.router) { client in
            let echoed = try await client.execute(uri: "/health", method: .get, headers: [.init("X-Request-ID")!: "proxy-1234.a:b_c"])
            #expect(echoed.headers[.init("X-Request-ID")!] == "proxy-1234.a:b_c")
            for unsafe in ["has space", "line\nbreak", String(repeating: "x", count: 129), ""] {
                let replaced = try await client.execute(uri: "/health", method: .get, headers: [.init("X-Request-ID")!: unsafe])
                let id = try #require(replaced.headers[.init("X-Request-ID")!])
                #expect(id != unsafe && id.count == 16)
            }
            let missing = try await client.execute(uri: "/no-such-page", method: .get)
            #expect(missing.status == .notFound)
            #expect(missing.headers[.init("X-Request-ID")!]?.count == 16, "errors carry an id too")
        }
        #expect(harness.logs.allLines.contains { $0.contains("request_id") && $0.contains("proxy-1234.a:b_c") })
    }

    @Test("--log-format json: one JSON object per line, metadata as keys, a message's line break escaped")
    func jsonLogs() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "pixy") { label in JSONLogHandler(label: label) { line in lines.withLock { $0.append(line) } } }
        logger[metadataKey: "request_id"] = "r-1"
        logger.info("GET /token 200 1.0ms\nforged line", metadata: ["status": "200", "list": .array(["a", "b"])])
        logger.debug("below the level")
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "GET /token 200 1.0ms\nforged line")
        #expect(object["request_id"] as? String == "r-1" && object["status"] as? String == "200")
        #expect(object["list"] as? [String] == ["a", "b"] && object["level"] as? String == "info" && object["label"] as? String == "pixy")
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
    }
    @Test("§10: with the store unreachable, /authorize shows an error page and /token answers server_error; nothing is issued")
    func storeOutage() async throws {
        let harness = try await TestHarness.make()
        let store = BreakableStore(harness.store)
        let app = try await buildApplication(
            configuration: harness.configuration, stores: PixyStores(store), clock: harness.clock,
            logger: harness.logs.logger())
        try await app.test(.router) { client in
            let (query, pkce) = TestHarness.authorizeQuery()
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            store.broken.store(true, ordering: .relaxed)

            let authorize = try await client.execute(uri: "/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
            #expect(authorize.status == .internalServerError)
            #expect(authorize.headers[.location] == nil)

            let form = [
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value),
                ("client_id", TestHarness.publicClientID.rawValue),
            ]
            let token = try await tokenRequest(client, form)
            #expect(token.status.code >= 500)
            #expect(try json(token)["access_token"] == nil)

            let registration = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"redirect_uris":["https://a.example/cb"]}"#))
            #expect(registration.status.code >= 500)
            #expect(try json(registration)["client_id"] == nil)

            store.broken.store(false, ordering: .relaxed)
            let recovered = try await tokenRequest(client, form)
            #expect(recovered.status == .ok, "the code was not consumed during the outage, and the server recovers by itself")
        }
    }

    @Test(
        "§10: with the store unreachable (a Redis outage), endpoints answer 503 with Retry-After, and /authorize redirects temporarily_unavailable once the redirect URI is known"
    )
    func storeUnavailable() async throws {
        let harness = try await TestHarness.make()
        let store = BreakableStore(harness.store, error: .unavailable("redis: connection refused"))
        let app = try await buildApplication(
            configuration: harness.configuration, stores: PixyStores(store), clock: harness.clock,
            logger: harness.logs.logger())
        try await app.test(.router) { client in
            let (query, pkce) = TestHarness.authorizeQuery()
            let browser = Browser()
            let code = try #require(try await browser.authorize(client, query: query).locationParameters["code"])
            store.broken.store(true, ordering: .relaxed)

            let page = try await client.execute(uri: "/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
            #expect(page.status == .serviceUnavailable)
            #expect(page.headers[.retryAfter] == "1")
            #expect(page.headers[.location] == nil, "before the client is known, never a redirect")

            let form = [
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value),
                ("client_id", TestHarness.publicClientID.rawValue),
            ]
            let token = try await tokenRequest(client, form)
            #expect(token.status == .serviceUnavailable)
            #expect(token.headers[.retryAfter] == "1")
            #expect(token.headers[.cacheControl] == "no-store")
            #expect(try json(token)["error"] as? String == "server_error")
            #expect(try json(token)["access_token"] == nil)

            let registration = try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"redirect_uris":["https://a.example/cb"]}"#))
            #expect(registration.status == .serviceUnavailable)

            let login = try await browser.get(client, "/login?tx=whatever")  // with its session cookie: the store is asked
            #expect(login.status == .serviceUnavailable)

            // The client and redirect URI validate, then the session store fails: the RFC 6749
            // §4.1.2.1 redirect says temporarily_unavailable, with state and iss.
            store.broken.store(false, ordering: .relaxed)
            store.interactionsBroken.store(true, ordering: .relaxed)
            let midway = try await client.execute(uri: "/authorize?\(TestHarness.authorizeQuery().query)", method: .get)
            let location = try #require(midway.headers[.location])
            #expect(location.hasPrefix(TestHarness.redirectURI))
            #expect(midway.locationParameters["error"] == "temporarily_unavailable")
            #expect(midway.locationParameters["iss"] == harness.configuration.issuer)

            store.interactionsBroken.store(false, ordering: .relaxed)
            let recovered = try await tokenRequest(client, form)
            #expect(recovered.status == .ok, "the code was not consumed during the outage, and the server recovers by itself")
        }
    }
}
