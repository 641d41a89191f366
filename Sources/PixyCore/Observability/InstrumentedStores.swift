public import struct Foundation.Date
import PixyModel

extension PixyStores {
    /// The same stores, each call counted and timed (docs/operations.md, Metrics:
    /// `pixy_store_operations_total` and `pixy_store_operation_duration_seconds`).
    ///
    /// - Parameters:
    ///   - durable: the label for the durable backend (`sqlite`, `postgres`, `redis`, `memory`).
    ///   - ephemeral: the label for the ephemeral backend (`memcached`, `redis`, …).
    public func instrumented(with telemetry: Telemetry, durable: String, ephemeral: String) -> PixyStores {
        let durableStore = StoreMeter(telemetry: telemetry, store: durable)
        let ephemeralStore = StoreMeter(telemetry: telemetry, store: ephemeral)
        var result = PixyStores(
            clients: InstrumentedClientStore(base: clients, meter: durableStore),
            codes: InstrumentedCodeStore(base: codes, meter: ephemeralStore),
            users: InstrumentedUserStore(base: users, meter: durableStore),
            signingKeys: InstrumentedSigningKeyStore(base: signingKeys, meter: durableStore),
            interactions: InstrumentedInteractionStore(base: interactions, meter: ephemeralStore),
            tokenStatus: InstrumentedTokenStatusStore(base: tokenStatus, meter: durableStore),
            grants: InstrumentedGrantStore(base: grants, meter: durableStore),
            consents: InstrumentedConsentStore(base: consents, meter: durableStore))
        result.failureCounters = failureCounters.map { InstrumentedFailureCounters(base: $0, meter: ephemeralStore) }
        result.tokenBuckets = tokenBuckets.map { InstrumentedTokenBuckets(base: $0, meter: ephemeralStore) }
        return result
    }
}

/// Counts and times one backend's calls. The result label is `ok`, `timeout` (the store's
/// deadline passed, ``StorageError/isTimeout``) or `error` (anything else thrown).
struct StoreMeter: Sendable {
    let telemetry: Telemetry
    let store: String

    func measure<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        do {
            let value = try await body()
            finish(operation, result: "ok", since: start)
            return value
        } catch {
            finish(operation, result: Self.result(of: error), since: start)
            throw error
        }
    }

    private func finish(_ operation: String, result: String, since start: ContinuousClock.Instant) {
        let labels = [("store", store), ("operation", operation)]
        telemetry.increment(Telemetry.Name.storeOperations, labels + [("result", result)])
        telemetry.record(Telemetry.Name.storeDuration, duration: ContinuousClock.now - start, labels)
    }

    /// `timeout`, `error`, or `ok` for a refused insert or a refused redemption (an answer, not a
    /// failure of the store).
    static func result(of error: any Error) -> String {
        // A redemption's checks failing inside the store's step is the client's error, not the store's.
        if error is OAuthError { return "ok" }
        guard let error = error as? StorageError else { return "error" }
        if error.isTimeout { return "timeout" }
        if error.code == .duplicateKey || error.code == .duplicateUsername { return "ok" }
        return "error"
    }
}

struct InstrumentedClientStore: ClientStore {
    let base: any ClientStore
    let meter: StoreMeter

    func client(withID clientID: ClientID) async throws -> Client? {
        try await meter.measure("client") { try await base.client(withID: clientID) }
    }
    func save(_ client: Client) async throws {
        try await meter.measure("save_client") { try await base.save(client) }
    }
    func replaceIfPresent(_ client: Client) async throws -> Bool {
        try await meter.measure("replace_client") { try await base.replaceIfPresent(client) }
    }
    func removeClient(withID clientID: ClientID) async throws -> Bool {
        try await meter.measure("remove_client") { try await base.removeClient(withID: clientID) }
    }
    func allClients() async throws -> [Client] {
        try await meter.measure("all_clients") { try await base.allClients() }
    }
    func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        try await meter.measure("client_by_fingerprint") { try await base.client(withRegistrationFingerprint: fingerprint) }
    }
}

struct InstrumentedCodeStore: AuthorizationCodeStore {
    let base: any AuthorizationCodeStore
    let meter: StoreMeter

    func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        try await meter.measure("store_code") { try await base.storeCode(record, codeHash: codeHash, ttl: ttl) }
    }
    func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        try await meter.measure("consume_code") { try await base.consumeCode(codeHash: codeHash) }
    }
    func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        try await meter.measure("mark_code_used") { try await base.markCodeUsed(codeHash: codeHash, marker, ttl: ttl) }
    }
    func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try await meter.measure("used_code_marker") { try await base.usedCodeMarker(codeHash: codeHash) }
    }
    func consumeCode<Redemption: Sendable>(
        codeHash: String, markingUsedFor ttl: Duration,
        after redeem: @Sendable (AuthorizationCodeRecord) throws -> (marker: UsedCodeMarker, redemption: Redemption)
    ) async throws -> Redemption? {
        // Still `consume_code`: what it does for the operator, with the marker in the same step.
        try await meter.measure("consume_code") {
            try await base.consumeCode(codeHash: codeHash, markingUsedFor: ttl, after: redeem)
        }
    }
}

struct InstrumentedUserStore: UserStore {
    let base: any UserStore
    let meter: StoreMeter

    func user(named username: String) async throws -> User? {
        try await meter.measure("user_by_name") { try await base.user(named: username) }
    }
    func user(withID id: String) async throws -> User? {
        try await meter.measure("user") { try await base.user(withID: id) }
    }
    func save(_ user: User) async throws {
        try await meter.measure("save_user") { try await base.save(user) }
    }
    func removeUser(named username: String) async throws -> Bool {
        try await meter.measure("remove_user") { try await base.removeUser(named: username) }
    }
    func allUsers() async throws -> [User] {
        try await meter.measure("all_users") { try await base.allUsers() }
    }
}

struct InstrumentedSigningKeyStore: SigningKeyStore {
    let base: any SigningKeyStore
    let meter: StoreMeter

    func allSigningKeys() async throws -> [SigningKeyRecord] {
        try await meter.measure("signing_keys") { try await base.allSigningKeys() }
    }
    func save(_ key: SigningKeyRecord) async throws {
        try await meter.measure("save_signing_key") { try await base.save(key) }
    }
    func whileCreatingKeys<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await base.whileCreatingKeys(body)
    }
}

struct InstrumentedInteractionStore: InteractionStore {
    let base: any InteractionStore
    let meter: StoreMeter

    func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        try await meter.measure("save_session") { try await base.saveSession(session, key: key, ttl: ttl) }
    }
    func session(key: String) async throws -> BrowserSession? {
        try await meter.measure("session") { try await base.session(key: key) }
    }
    func deleteSession(key: String) async throws {
        try await meter.measure("delete_session") { try await base.deleteSession(key: key) }
    }
    func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        try await meter.measure("save_pending") { try await base.savePendingAuthorization(pending, key: key, ttl: ttl) }
    }
    func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await meter.measure("pending") { try await base.pendingAuthorization(key: key) }
    }
    func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try await meter.measure("consume_pending") { try await base.consumePendingAuthorization(key: key) }
    }
}

struct InstrumentedTokenStatusStore: TokenStatusStore {
    let base: any TokenStatusStore
    let meter: StoreMeter

    func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        try await meter.measure("revoke_token") { try await base.revokeToken(id: tokenID, expiresAt: expiresAt) }
    }
    func isTokenRevoked(id tokenID: String) async throws -> Bool {
        try await meter.measure("is_token_revoked") { try await base.isTokenRevoked(id: tokenID) }
    }
}

struct InstrumentedGrantStore: GrantStore {
    let base: any GrantStore
    let meter: StoreMeter

    func createGrant(_ grant: Grant) async throws {
        try await meter.measure("create_grant") { try await base.createGrant(grant) }
    }
    func grant(withID id: String) async throws -> Grant? {
        try await meter.measure("grant") { try await base.grant(withID: id) }
    }
    func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        try await meter.measure("update_grant") { try await base.updateGrant(refreshTokenHash: refreshTokenHash, body) }
    }
    func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        try await meter.measure("update_grant") { try await base.updateGrant(id: id, body) }
    }
    func grants(of owner: GrantOwner) async throws -> [Grant] {
        try await meter.measure("grants") { try await base.grants(of: owner) }
    }
}

struct InstrumentedConsentStore: ConsentStore {
    let base: any ConsentStore
    let meter: StoreMeter

    func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        try await meter.measure("consent") { try await base.consent(userID: userID, clientID: clientID, resource: resource) }
    }
    func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        try await meter.measure("save_consent") {
            try await base.saveConsent(record, userID: userID, clientID: clientID, resource: resource)
        }
    }
    func forgetConsents(userID: String, clientID: ClientID) async throws {
        try await meter.measure("forget_consents") { try await base.forgetConsents(userID: userID, clientID: clientID) }
    }
}

struct InstrumentedFailureCounters: FailureCounting {
    let base: any FailureCounting
    let meter: StoreMeter

    func failures(for key: String) async throws -> Int {
        try await meter.measure("login_failures") { try await base.failures(for: key) }
    }
    func recordFailure(for key: String, window: Duration) async throws {
        try await meter.measure("record_login_failure") { try await base.recordFailure(for: key, window: window) }
    }
    func clearFailures(for key: String) async throws {
        try await meter.measure("clear_login_failures") { try await base.clearFailures(for: key) }
    }
    func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool {
        try await meter.measure("reserve_login_attempt") { try await base.reserveAttempt(for: key, limit: limit, window: window) }
    }
    func releaseAttempt(for key: String) async throws {
        try await meter.measure("release_login_attempt") { try await base.releaseAttempt(for: key) }
    }
}

struct InstrumentedTokenBuckets: TokenBucketStoring {
    let base: any TokenBucketStoring
    let meter: StoreMeter

    func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision {
        try await meter.measure("take_rate_token") {
            try await base.takeToken(key: key, burst: burst, refillPerSecond: refillPerSecond, now: now)
        }
    }
}
