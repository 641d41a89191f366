public import struct Foundation.Date
import HeapModule
import Synchronization

/// Every store in process memory. For tests and single-process demos: nothing survives a restart.
/// TTLs are enforced on read against the injected clock; expired entries are swept on writes,
/// in expiry order from a heap of deadlines, so a write costs the same with a thousand or a
/// million live entries (docs/performance.md, "Flat cost").
public final class InMemoryStore: PixyStorageBackend {
    private struct Expiring<Value: Sendable>: Sendable {
        var value: Value
        var expiresAt: Date
    }

    /// Which map a ``Deadline`` points into.
    private enum ExpiringMap: UInt8, Sendable {
        case codes, sessions, pending, usedCodes, revokedTokens, grants, refreshIndex
    }

    /// A moment at which the entry under `key` may have expired. A hint, checked when it comes
    /// due: the entry may be gone already (consumed) or live longer (rewritten, or a grant whose
    /// expiry moved), and then another deadline of its own is in the heap.
    private struct Deadline: Comparable, Sendable {
        var expiresAt: Date
        var map: ExpiringMap
        var key: String

        static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.expiresAt < rhs.expiresAt }
    }

    private struct State: Sendable {
        var clients: [ClientID: Client] = [:]
        var users: [String: User] = [:]
        var keys: [String: SigningKeyRecord] = [:]
        var codes: [String: Expiring<AuthorizationCodeRecord>] = [:]
        var sessions: [String: Expiring<BrowserSession>] = [:]
        var pending: [String: Expiring<PendingAuthorization>] = [:]
        var usedCodes: [String: Expiring<UsedCodeMarker>] = [:]
        var revokedTokens: [String: Date] = [:]
        var grants: [String: Grant] = [:]
        var refreshIndex: [String: String] = [:]
        var consents: [String: ConsentRecord] = [:]
        var deadlines = Heap<Deadline>()
    }

    /// Most deadlines one write clears: a burst of expiries is spread over the following writes
    /// instead of stalling one (each write adds at most two deadlines, so the sweep keeps up).
    private static let sweepBatch = 64

    private let state = Mutex(State())
    private let clock: any WallClock

    /// Creates an empty store that reads time from `clock`.
    public init(clock: any WallClock = SystemWallClock()) {
        self.clock = clock
    }

    private func expiry(_ ttl: Duration) -> Date { clock.now().addingTimeInterval(ttl.timeInterval) }

    /// The live (unexpired) value under `key` in one of the expiring maps.
    private func liveValue<Value: Sendable>(_ map: KeyPath<State, [String: Expiring<Value>]>, _ key: String) -> Value? {
        let now = clock.now()
        return state.withLock { state in
            guard let entry = state[keyPath: map][key], entry.expiresAt > now else { return nil }
            return entry.value
        }
    }

    /// Stores `value` under `key` in one of the expiring maps for `ttl`.
    private func putExpiring<Value: Sendable>(
        _ map: WritableKeyPath<State, [String: Expiring<Value>]>, named name: ExpiringMap, _ key: String, _ value: Value,
        ttl: Duration
    ) {
        let now = clock.now()
        let expiresAt = expiry(ttl)
        state.withLock { state in
            let previous = state[keyPath: map].updateValue(Expiring(value: value, expiresAt: expiresAt), forKey: key)
            Self.arm(&state, name, key, at: expiresAt, replacing: previous?.expiresAt)
            sweep(&state, now: now)
        }
    }

    /// Adds a deadline for `key` unless one at or before `expiresAt` is already waiting (the
    /// entry existed with an expiry no later): so rewriting a key adds nothing to the heap, and
    /// the heap holds about one deadline per entry, plus those of entries removed early until
    /// their time comes. A deadline that comes due while its entry lives on is re-armed.
    private static func arm(_ state: inout State, _ map: ExpiringMap, _ key: String, at expiresAt: Date, replacing previous: Date?) {
        if let previous, previous <= expiresAt { return }
        state.deadlines.insert(Deadline(expiresAt: expiresAt, map: map, key: key))
    }

    /// Removes the entries whose deadlines have come, at most ``sweepBatch`` of them.
    private func sweep(_ state: inout State, now: Date) {
        for _ in 0..<Self.sweepBatch {
            guard let due = state.deadlines.min, due.expiresAt <= now else { return }
            state.deadlines.removeMin()
            // The entry's expiry now: nil when it is gone (or, for an index entry, its grant is),
            // removed when it has passed, re-armed when the entry lives on (rewritten later).
            let current: Date?
            switch due.map {
            case .codes: current = state.codes[due.key]?.expiresAt
            case .sessions: current = state.sessions[due.key]?.expiresAt
            case .pending: current = state.pending[due.key]?.expiresAt
            case .usedCodes: current = state.usedCodes[due.key]?.expiresAt
            case .revokedTokens: current = state.revokedTokens[due.key]
            case .grants: current = state.grants[due.key]?.expiresAt
            case .refreshIndex:
                // An index entry lives as long as its grant.
                current = state.refreshIndex[due.key].map { state.grants[$0]?.expiresAt ?? now }
            }
            guard let current else { continue }
            if current > now {
                state.deadlines.insert(Deadline(expiresAt: current, map: due.map, key: due.key))
                continue
            }
            switch due.map {
            case .codes: state.codes[due.key] = nil
            case .sessions: state.sessions[due.key] = nil
            case .pending: state.pending[due.key] = nil
            case .usedCodes: state.usedCodes[due.key] = nil
            case .revokedTokens: state.revokedTokens[due.key] = nil
            case .grants: state.grants[due.key] = nil
            case .refreshIndex: state.refreshIndex[due.key] = nil
            }
        }
    }

    /// How many entries the expiring maps hold, expired or not, and how many deadlines wait in the
    /// heap: what the sweep keeps bounded (Tests/PixyCoreTests/InMemoryStoreSweepTests.swift).
    package var heldCounts: (entries: Int, deadlines: Int) {
        state.withLock { state in
            let entries =
                state.codes.count + state.sessions.count + state.pending.count + state.usedCodes.count
                + state.revokedTokens.count + state.grants.count + state.refreshIndex.count
            return (entries, state.deadlines.count)
        }
    }

    // MARK: ClientStore

    public func client(withID clientID: ClientID) async throws -> Client? {
        state.withLock { $0.clients[clientID] }
    }

    public func save(_ client: Client) async throws {
        state.withLock { $0.clients[client.clientID] = client }
    }

    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        state.withLock { state in
            guard state.clients[client.clientID] != nil else { return false }
            state.clients[client.clientID] = client
            return true
        }
    }

    public func removeClient(withID clientID: ClientID) async throws -> Bool {
        state.withLock { $0.clients.removeValue(forKey: clientID) != nil }
    }

    public func allClients() async throws -> [Client] {
        state.withLock { $0.clients.values.sorted { ($0.createdAt, $0.clientID.rawValue) < ($1.createdAt, $1.clientID.rawValue) } }
    }

    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        state.withLock { $0.clients.values.first { $0.registrationFingerprint == fingerprint } }
    }

    // MARK: AuthorizationCodeStore

    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        let now = clock.now()
        let expiresAt = expiry(ttl)
        try state.withLock { state in
            let key = StorageKey.authorizationCode(hash: codeHash)
            if let existing = state.codes[key], existing.expiresAt > now { throw StorageError.duplicateKey }
            let previous = state.codes.updateValue(Expiring(value: record, expiresAt: expiresAt), forKey: key)
            Self.arm(&state, .codes, key, at: expiresAt, replacing: previous?.expiresAt)
            sweep(&state, now: now)
        }
    }

    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        let now = clock.now()
        return state.withLock { state in
            guard let entry = state.codes.removeValue(forKey: StorageKey.authorizationCode(hash: codeHash)),
                entry.expiresAt > now
            else { return nil }
            return entry.value
        }
    }

    /// One lock: take the code, run the checks, write the marker (``AuthorizationCodeStore``).
    public func consumeCode<Redemption: Sendable>(
        codeHash: String, markingUsedFor ttl: Duration,
        after redeem: @Sendable (AuthorizationCodeRecord) throws -> (marker: UsedCodeMarker, redemption: Redemption)
    ) async throws -> Redemption? {
        let now = clock.now()
        let outcome: Result<Redemption, any Error>? = state.withLock { state in
            guard let entry = state.codes.removeValue(forKey: StorageKey.authorizationCode(hash: codeHash)),
                entry.expiresAt > now
            else { return nil }
            // The code is gone from here on; a failed check writes no marker.
            let marker: UsedCodeMarker
            let redemption: Redemption
            do { (marker, redemption) = try redeem(entry.value) } catch { return .failure(error) }
            // The marker's lifetime starts after the checks, so it never ends before the token it names.
            let expiresAt = expiry(ttl)
            let key = StorageKey.usedCode(hash: codeHash)
            let previous = state.usedCodes.updateValue(Expiring(value: marker, expiresAt: expiresAt), forKey: key)
            Self.arm(&state, .usedCodes, key, at: expiresAt, replacing: previous?.expiresAt)
            sweep(&state, now: now)
            return .success(redemption)
        }
        return try outcome?.get()
    }

    // MARK: UserStore

    public func user(named username: String) async throws -> User? {
        state.withLock { $0.users.values.first { $0.username == username } }
    }

    public func user(withID id: String) async throws -> User? {
        state.withLock { $0.users[id] }
    }

    public func save(_ user: User) async throws {
        try state.withLock { state in
            if state.users.values.contains(where: { $0.username == user.username && $0.id != user.id }) {
                throw StorageError.duplicateUsername
            }
            state.users[user.id] = user
        }
    }

    public func removeUser(named username: String) async throws -> Bool {
        state.withLock { state in
            guard let id = state.users.values.first(where: { $0.username == username })?.id else { return false }
            state.users[id] = nil
            return true
        }
    }

    public func allUsers() async throws -> [User] {
        state.withLock { $0.users.values.sorted { ($0.createdAt, $0.username) < ($1.createdAt, $1.username) } }
    }

    // MARK: SigningKeyStore

    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        state.withLock { $0.keys.values.sorted { ($0.createdAt, $0.kid) < ($1.createdAt, $1.kid) } }
    }

    public func save(_ key: SigningKeyRecord) async throws {
        state.withLock { $0.keys[key.kid] = key }
    }

    // MARK: InteractionStore

    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        putExpiring(\.sessions, named: .sessions, StorageKey.session(hash: key), session, ttl: ttl)
    }

    public func session(key: String) async throws -> BrowserSession? {
        liveValue(\.sessions, StorageKey.session(hash: key))
    }

    public func deleteSession(key: String) async throws {
        _ = state.withLock { $0.sessions.removeValue(forKey: StorageKey.session(hash: key)) }
    }

    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        putExpiring(\.pending, named: .pending, StorageKey.pendingAuthorization(hash: key), pending, ttl: ttl)
    }

    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        liveValue(\.pending, StorageKey.pendingAuthorization(hash: key))
    }

    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        let now = clock.now()
        return state.withLock { state in
            guard let entry = state.pending.removeValue(forKey: StorageKey.pendingAuthorization(hash: key)),
                entry.expiresAt > now
            else { return nil }
            return entry.value
        }
    }

    // MARK: TokenStatusStore (and the used-code markers of AuthorizationCodeStore)

    public func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        let now = clock.now()
        state.withLock { state in
            let key = StorageKey.revokedToken(id: tokenID)
            let previous = state.revokedTokens.updateValue(expiresAt, forKey: key)
            Self.arm(&state, .revokedTokens, key, at: expiresAt, replacing: previous)
            sweep(&state, now: now)
        }
    }

    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        state.withLock { $0.revokedTokens[StorageKey.revokedToken(id: tokenID)] != nil }
    }

    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        putExpiring(\.usedCodes, named: .usedCodes, StorageKey.usedCode(hash: codeHash), marker, ttl: ttl)
    }

    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        liveValue(\.usedCodes, StorageKey.usedCode(hash: codeHash))
    }

    // MARK: GrantStore

    public func createGrant(_ grant: Grant) async throws {
        let now = clock.now()
        try state.withLock { state in
            guard state.grants[grant.id] == nil else { throw StorageError.duplicateKey }
            state.grants[grant.id] = grant
            let indexKey = StorageKey.refreshToken(hash: grant.currentTokenHash)
            state.refreshIndex[indexKey] = grant.id
            state.deadlines.insert(Deadline(expiresAt: grant.expiresAt, map: .grants, key: grant.id))
            state.deadlines.insert(Deadline(expiresAt: grant.expiresAt, map: .refreshIndex, key: indexKey))
            sweep(&state, now: now)
        }
    }

    public func grant(withID id: String) async throws -> Grant? {
        state.withLock { $0.grants[id] }
    }

    public func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        let now = clock.now()
        return state.withLock { state in
            guard let id = state.refreshIndex[StorageKey.refreshToken(hash: refreshTokenHash)] else { return nil }
            return apply(body, to: id, in: &state, now: now)
        }
    }

    public func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        let now = clock.now()
        return state.withLock { state in apply(body, to: id, in: &state, now: now) }
    }

    public func grants(of owner: GrantOwner) async throws -> [Grant] {
        let now = clock.now()
        return state.withLock { state in
            state.grants.values.filter { owner.owns($0) && $0.expiresAt > now }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    private func apply<Result: Sendable>(
        _ body: (inout Grant) -> GrantUpdate<Result>, to id: String, in state: inout State, now: Date
    )
        -> Result?
    {
        guard var grant = state.grants[id] else { return nil }
        switch body(&grant) {
        case .keep(let result):
            return result
        case .save(let result, let newTokenHash):
            let previous = state.grants.updateValue(grant, forKey: id)
            Self.arm(&state, .grants, id, at: grant.expiresAt, replacing: previous?.expiresAt)
            if let newTokenHash {
                let indexKey = StorageKey.refreshToken(hash: newTokenHash)
                let previousGrantID = state.refreshIndex.updateValue(id, forKey: indexKey)
                Self.arm(
                    &state, .refreshIndex, indexKey, at: grant.expiresAt,
                    replacing: previousGrantID.flatMap { state.grants[$0]?.expiresAt })
            }
            sweep(&state, now: now)
            return result
        }
    }

    // MARK: ConsentStore

    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        state.withLock { $0.consents[StorageKey.consent(userID: userID, clientID: clientID, resource: resource)] }
    }

    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        state.withLock { $0.consents[StorageKey.consent(userID: userID, clientID: clientID, resource: resource)] = record }
    }

    public func forgetConsents(userID: String, clientID: ClientID) async throws {
        let prefix = StorageKey.consentPrefix(userID: userID, clientID: clientID)
        state.withLock { state in state.consents = state.consents.filter { !$0.key.hasPrefix(prefix) } }
    }
}
