public import Foundation
public import PixyCore
import PixyModel
public import ServiceLifecycle

/// Every Pixy store on one Redis, so many server processes share state (issue 4).
///
/// Layout: one key per object, named by kind (`auth:code:<sha256>`, `auth:client:<id>`,
/// `auth:grant:<id>`, …; see ``RedisKeys``), behind an optional global prefix so several Pixy
/// deployments can share one Redis. Ephemeral objects carry a Redis TTL and their own `exp`,
/// checked on read against the injected clock. Durable objects (clients, users, keys, grants)
/// carry no TTL but a grant's absolute end, so Redis must never evict (see
/// ``RedisStore/inspectDeployment()``).
///
/// Atomicity, without any lock held across a round trip:
/// - a code is consumed with `GETDEL`; pending authorizations likewise;
/// - a grant update reads the grant, lets the pure decision (e.g. `RefreshTokenFamily.present`)
///   run in Swift, and writes back with a Lua compare-and-set that succeeds only if the grant is
///   still byte-for-byte what was read; otherwise the decision runs again on the newer grant.
///   Concurrent refreshes therefore serialize exactly as on SQLite and never fork a family.
///
/// Not for Redis Cluster: scripts touch several keys that may live in different slots.
public final class RedisStore: PixyStorageBackend, FailureCounting, TokenBucketStoring, Service {
    /// The connections.
    public let pool: RedisConnectionPool
    /// The key layout.
    public let keys: RedisKeys
    private let clock: any WallClock


    /// A store on the Redis `configuration` names, with every key under `prefix`.
    public init(configuration: RedisConfiguration, prefix: String = "", clock: any WallClock = SystemWallClock()) {
        pool = RedisConnectionPool(configuration: configuration)
        keys = RedisKeys(prefix: prefix)
        self.clock = clock
    }

    /// Closes the connections on graceful shutdown.
    public func run() async throws {
        try await pool.run()
    }

    // MARK: Plumbing

    /// Sends a command, turning "Redis is unreachable" into ``StorageError/unavailable(_:)`` so
    /// endpoints answer 503 (SECURITY.md §10: fail closed).
    @discardableResult
    private func send(_ arguments: [String]) async throws -> RESPValue {
        do {
            return try await pool.send(arguments)
        } catch let error as RedisError {
            throw Self.storageError(error)
        }
    }

    private func run(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        do {
            return try await script.run(on: pool, keys: keys, arguments: arguments)
        } catch let error as RedisError {
            throw Self.storageError(error)
        }
    }

    /// `MULTI`, the commands, `EXEC`, written as one batch; throws unless every command ran.
    private func transaction(_ commands: [[String]]) async throws {
        let replies: [RESPValue]
        do {
            replies = try await pool.send(batch: [["MULTI"]] + commands + [["EXEC"]])
        } catch let error as RedisError {
            throw Self.storageError(error)
        }
        for reply in replies {
            if case .error(let message) = reply { throw StorageError("redis: \(message)") }
        }
        guard case .array(let results?) = replies.last, results.count == commands.count else {
            throw StorageError("redis: transaction aborted")
        }
        for result in results {
            if case .error(let message) = result { throw StorageError("redis: \(message)") }
        }
    }

    private static func storageError(_ error: RedisError) -> StorageError {
        error.isConnectionFailure ? .unavailable("redis: \(error.description)") : StorageError("redis: \(error.description)")
    }

    private func encode(_ value: some Encodable) throws -> String {
        try StoredRecordCoding.encode(value)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try StoredRecordCoding.decode(type, text)
    }

    private func get(_ key: String) async throws -> String? {
        try await send(["GET", key]).string
    }

    private var now: Date { clock.now() }

    /// Milliseconds from now (on the injected clock) until `date`; at least 1, since Redis
    /// refuses a zero TTL.
    private func milliseconds(until date: Date) -> String {
        String(max(1, Int((date.timeIntervalSince(now) * 1000).rounded(.up))))
    }

    private func milliseconds(_ ttl: Duration) -> String {
        String(max(1, Int((ttl.timeInterval * 1000).rounded(.up))))
    }

    /// An ephemeral value's envelope: the record and its own expiry, checked on every read so an
    /// entry Redis has not expired yet (or whose TTL a restore reset) is still never honoured late.
    private struct Expiring<Record: Codable>: Codable {
        var exp: Double
        var record: Record
    }

    private func putExpiring(_ record: some Codable, key: String, ttl: Duration, onlyIfAbsent: Bool = false) async throws -> Bool {
        let text = try encode(Expiring(exp: now.addingTimeInterval(ttl.timeInterval).timeIntervalSince1970, record: record))
        var command = ["SET", key, text, "PX", milliseconds(ttl)]
        if onlyIfAbsent { command.append("NX") }
        return try await !send(command).isNull
    }

    private func expiring<Record: Codable>(_ type: Record.Type, from text: String?) throws -> Record? {
        guard let text else { return nil }
        let envelope = try decode(Expiring<Record>.self, text)
        return envelope.exp > now.timeIntervalSince1970 ? envelope.record : nil
    }

    /// Values of `MGET` over `keys` in chunks, skipping missing ones.
    private func values(of keys: [String]) async throws -> [String] {
        var texts: [String] = []
        var start = 0
        while start < keys.count {
            let chunk = Array(keys[start..<min(start + 256, keys.count)])
            guard case .array(let replies?) = try await send(["MGET"] + chunk) else { throw StorageError("redis: MGET reply") }
            texts += replies.compactMap(\.string)
            start += chunk.count
        }
        return texts
    }

    private func members(of index: String) async throws -> [String] {
        guard case .array(let replies?) = try await send(["ZRANGE", index, "0", "-1"]) else { throw StorageError("redis: ZRANGE reply") }
        return replies.compactMap(\.string)
    }

    // MARK: ClientStore

    public func client(withID clientID: ClientID) async throws -> Client? {
        try await get(keys.client(id: clientID.rawValue)).map { try decode(Client.self, $0) }
    }

    public func save(_ client: Client) async throws {
        let id = client.clientID.rawValue
        var commands = [["SET", keys.client(id: id), try encode(client)],
                        ["ZADD", keys.clientIndex, String(client.createdAt.timeIntervalSince1970), id]]
        if let fingerprint = client.registrationFingerprint {
            commands.append(["SET", keys.clientFingerprint(fingerprint), id])
        }
        try await transaction(commands)
    }

    /// `SET … XX`: written only if the key still exists.
    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        try await !send(["SET", keys.client(id: client.clientID.rawValue), try encode(client), "XX"]).isNull
    }

    public func removeClient(withID clientID: ClientID) async throws -> Bool {
        let id = clientID.rawValue
        guard let existing = try await client(withID: clientID) else { return false }
        let fingerprintKey = existing.registrationFingerprint.map(keys.clientFingerprint) ?? ""
        let removed = try await run(Scripts.removeClient, keys: [keys.client(id: id), keys.clientIndex, fingerprintKey], arguments: [id])
        return removed == .integer(1)
    }

    public func allClients() async throws -> [Client] {
        let ids = try await members(of: keys.clientIndex)
        return try await values(of: ids.map(keys.client(id:))).map { try decode(Client.self, $0) }
    }

    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        guard let id = try await get(keys.clientFingerprint(fingerprint)),
              let client = try await client(withID: ClientID(id)),
              client.registrationFingerprint == fingerprint else { return nil }
        return client
    }

    // MARK: AuthorizationCodeStore

    /// `SET auth:code:<hash> … PX <ttl> NX`: never overwrites a live code.
    public func storeCode(_ record: AuthorizationCodeRecord, codeHash: String, ttl: Duration) async throws {
        guard try await putExpiring(record, key: keys.code(hash: codeHash), ttl: ttl, onlyIfAbsent: true) else {
            throw StorageError.duplicateKey
        }
    }

    /// `GETDEL`: Redis runs commands one at a time, so of N concurrent consumers exactly one gets
    /// the value (SECURITY.md §3); then the record's own `exp` is checked.
    public func consumeCode(codeHash: String) async throws -> AuthorizationCodeRecord? {
        try expiring(AuthorizationCodeRecord.self, from: try await send(["GETDEL", keys.code(hash: codeHash)]).string)
    }

    // MARK: UserStore

    public func user(named username: String) async throws -> User? {
        guard let id = try await get(keys.username(username)) else { return nil }
        return try await user(withID: id)
    }

    public func user(withID id: String) async throws -> User? {
        try await get(keys.user(id: id)).map { try decode(User.self, $0) }
    }

    /// One script: refuses a username another user holds, frees a renamed user's old name.
    public func save(_ user: User) async throws {
        let reply: RESPValue
        do {
            reply = try await run(Scripts.saveUser, keys: [keys.user(id: user.id), keys.username(user.username), keys.userIndex],
                                  arguments: [user.id, try encode(user), String(user.createdAt.timeIntervalSince1970), keys.username("")])
        } catch let error as StorageError where error.description.contains("PIXY_DUPLICATE_USERNAME") {
            throw StorageError.duplicateUsername
        }
        guard reply == .integer(1) else { throw StorageError("redis: unexpected reply saving a user") }
    }

    public func removeUser(named username: String) async throws -> Bool {
        try await run(Scripts.removeUser, keys: [keys.username(username), keys.userIndex], arguments: [keys.user(id: "")]) == .integer(1)
    }

    public func allUsers() async throws -> [User] {
        let ids = try await members(of: keys.userIndex)
        return try await values(of: ids.map(keys.user(id:))).map { try decode(User.self, $0) }
    }

    // MARK: SigningKeyStore

    public func allSigningKeys() async throws -> [SigningKeyRecord] {
        let ids = try await members(of: keys.signingKeyIndex)
        return try await values(of: ids.map(keys.signingKey(id:))).map { try decode(SigningKeyRecord.self, $0) }
    }

    public func save(_ key: SigningKeyRecord) async throws {
        try await transaction([["SET", keys.signingKey(id: key.kid), try encode(key)],
                               ["ZADD", keys.signingKeyIndex, String(key.createdAt.timeIntervalSince1970), key.kid]])
    }

    /// A lock in Redis (`SET … NX PX`, released only by its holder), so processes starting
    /// together on an empty store create one first key between them.
    public func whileCreatingKeys<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let token = SecureRandom.token()
        let lease = Duration.seconds(10)
        let deadline = ContinuousClock.now + lease
        while try await send(["SET", keys.keyCreationLock, token, "NX", "PX", milliseconds(lease)]).isNull {
            guard ContinuousClock.now < deadline else { throw StorageError("signing key creation is locked by another process") }
            try await Task.sleep(for: .milliseconds(50))
        }
        do {
            let result = try await body()
            _ = try await run(Scripts.releaseLock, keys: [keys.keyCreationLock], arguments: [token])
            return result
        } catch {
            _ = try? await run(Scripts.releaseLock, keys: [keys.keyCreationLock], arguments: [token])
            throw error
        }
    }

    // MARK: InteractionStore

    public func saveSession(_ session: BrowserSession, key: String, ttl: Duration) async throws {
        _ = try await putExpiring(session, key: keys.session(hash: key), ttl: ttl)
    }

    public func session(key: String) async throws -> BrowserSession? {
        try expiring(BrowserSession.self, from: try await get(keys.session(hash: key)))
    }

    public func deleteSession(key: String) async throws {
        try await send(["DEL", keys.session(hash: key)])
    }

    public func savePendingAuthorization(_ pending: PendingAuthorization, key: String, ttl: Duration) async throws {
        _ = try await putExpiring(pending, key: keys.pendingAuthorization(hash: key), ttl: ttl)
    }

    public func pendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try expiring(PendingAuthorization.self, from: try await get(keys.pendingAuthorization(hash: key)))
    }

    /// `GETDEL`, as for codes: an approval is used once (SECURITY.md §8).
    public func consumePendingAuthorization(key: String) async throws -> PendingAuthorization? {
        try expiring(PendingAuthorization.self, from: try await send(["GETDEL", keys.pendingAuthorization(hash: key)]).string)
    }

    // MARK: TokenStatusStore

    /// Listed until the token would have expired anyway; Redis then drops the key.
    public func revokeToken(id tokenID: String, expiresAt: Date) async throws {
        try await send(["SET", keys.revokedToken(id: tokenID), "1", "PX", milliseconds(until: expiresAt)])
    }

    public func isTokenRevoked(id tokenID: String) async throws -> Bool {
        try await send(["EXISTS", keys.revokedToken(id: tokenID)]) == .integer(1)
    }

    public func markCodeUsed(codeHash: String, _ marker: UsedCodeMarker, ttl: Duration) async throws {
        _ = try await putExpiring(marker, key: keys.usedCode(hash: codeHash), ttl: ttl)
    }

    public func usedCodeMarker(codeHash: String) async throws -> UsedCodeMarker? {
        try expiring(UsedCodeMarker.self, from: try await get(keys.usedCode(hash: codeHash)))
    }

    // MARK: GrantStore

    /// One script: the grant (refused if the id exists) and its first refresh token's index entry,
    /// both living until the family's absolute end.
    public func createGrant(_ grant: Grant) async throws {
        let created = try await run(Scripts.createGrant,
                                    keys: [keys.grant(id: grant.id), keys.refreshToken(hash: grant.currentTokenHash), keys.grantIndex,
                                           keys.grantIndex(userID: grant.subject), keys.grantIndex(clientID: grant.clientID)],
                                    arguments: [try encode(grant), milliseconds(until: grant.expiresAt), grant.id,
                                                String(Int(grant.expiresAt.timeIntervalSince1970 * 1000))])
        guard created == .integer(1) else { throw StorageError.duplicateKey }
    }

    public func grant(withID id: String) async throws -> Grant? {
        try await get(keys.grant(id: id)).map { try decode(Grant.self, $0) }
    }

    /// The owner's index (a sorted set scored by each grant's end), pruned of ended grants first.
    public func grants(of owner: GrantOwner) async throws -> [Grant] {
        let index = switch owner {
        case .everyone: keys.grantIndex
        case .user(let id): keys.grantIndex(userID: id)
        case .client(let clientID): keys.grantIndex(clientID: clientID)
        }
        _ = try await send(["ZREMRANGEBYSCORE", index, "-inf", String(Int(now.timeIntervalSince1970 * 1000))])
        let ids = try await members(of: index)
        return try await values(of: ids.map(keys.grant(id:))).map { try decode(Grant.self, $0) }.filter { $0.expiresAt > now }
    }

    public func updateGrant<Result: Sendable>(
        refreshTokenHash: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>
    ) async throws -> Result? {
        guard let id = try await get(keys.refreshToken(hash: refreshTokenHash)) else { return nil }
        return try await updateGrant(id: id, body)
    }

    /// Optimistic and atomic: read, decide in Swift, then compare-and-set in one script. When
    /// another update landed in between, the script returns the newer grant and the decision runs
    /// again on it, so `body` must be free of side effects (it is: decisions are pure).
    public func updateGrant<Result: Sendable>(id: String, _ body: @Sendable (inout Grant) -> GrantUpdate<Result>) async throws -> Result? {
        let key = keys.grant(id: id)
        guard var text = try await get(key) else { return nil }
        for _ in 0..<1_000 {
            var grant = try decode(Grant.self, text)
            switch body(&grant) {
            case .keep(let result):
                return result
            case .save(let result, let newTokenHash):
                let reply = try await run(Scripts.compareAndSetGrant,
                                          keys: [key, newTokenHash.map(keys.refreshToken(hash:)) ?? ""],
                                          arguments: [text, try encode(grant), milliseconds(until: grant.expiresAt), id])
                switch reply {
                case .integer(1): return result
                case .bulkString(nil): return nil
                case .bulkString(let bytes?): text = String(decoding: bytes, as: UTF8.self)
                default: throw StorageError("redis: unexpected reply updating a grant")
                }
            }
        }
        throw StorageError("grant \(id): too many concurrent updates")
    }

    // MARK: FailureCounting

    /// `auth:throttle:<key>`: a hash of the count and the window's end (on the injected clock),
    /// with a Redis TTL so abandoned keys go away. Every process sharing this Redis sees the
    /// same counts, so N processes allow no more login attempts than one.
    public func failures(for key: String) async throws -> Int {
        guard case .array(let fields?) = try await send(["HMGET", keys.throttle(key), "n", "ends"]), fields.count == 2,
              let count = fields[0].string.flatMap(Int.init), let ends = fields[1].string.flatMap(Double.init),
              ends > now.timeIntervalSince1970 else { return 0 }
        return count
    }

    public func recordFailure(for key: String, window: Duration) async throws {
        _ = try await run(Scripts.recordFailure, keys: [keys.throttle(key)],
                          arguments: [String(now.timeIntervalSince1970), String(window.timeInterval), milliseconds(window)])
    }

    public func clearFailures(for key: String) async throws {
        try await send(["DEL", keys.throttle(key)])
    }

    public func reserveAttempt(for key: String, limit: Int, window: Duration) async throws -> Bool {
        let reply = try await run(Scripts.reserveAttempt, keys: [keys.throttle(key)], arguments: [
            String(now.timeIntervalSince1970), String(window.timeInterval), milliseconds(window), String(limit)])
        return reply == .integer(1)
    }

    public func releaseAttempt(for key: String) async throws {
        _ = try await run(Scripts.releaseAttempt, keys: [keys.throttle(key)], arguments: [String(now.timeIntervalSince1970)])
    }

    // MARK: TokenBucketStoring

    /// `auth:bucket:<sha256 of the key>`: one Lua script refills, takes and answers, so every
    /// process sharing this Redis draws from the same bucket.
    public func takeToken(key: String, burst: Double, refillPerSecond: Double, now: Date) async throws -> RateLimitDecision {
        let idle = burst / max(refillPerSecond, 0.0001)  // a full refill: after that the key is not needed
        let reply = try await run(Scripts.takeToken, keys: [keys.bucket(SecretHash.sha256Hex(key))], arguments: [
            String(burst), String(refillPerSecond), String(now.timeIntervalSince1970), String(max(1000, Int(idle * 1000))),
        ])
        guard case .array(let values?) = reply, values.count == 2, case .integer(let taken) = values[0],
              case .integer(let retryAfter) = values[1] else { throw StorageError("redis: unexpected reply taking a token") }
        return RateLimitDecision(isAllowed: taken == 1, retryAfter: retryAfter)
    }

    // MARK: ConsentStore

    public func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord? {
        try await get(keys.consent(userID: userID, clientID: clientID, resource: resource)).map { try decode(ConsentRecord.self, $0) }
    }

    public func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws {
        try await send(["SET", keys.consent(userID: userID, clientID: clientID, resource: resource), try encode(record)])
    }
}

/// The Lua scripts, each run atomically by Redis.
enum Scripts {
    /// KEYS: grant, new refresh-token index key or "". ARGV: expected grant, new grant, ttl ms, id.
    /// Returns 1 when written; otherwise the grant as it is now (nil if gone).
    static let compareAndSetGrant = RedisScript("""
        local current = redis.call('GET', KEYS[1])
        if current ~= ARGV[1] then return current end
        redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
        if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) end
        return 1
        """)

    /// KEYS: grant, first refresh-token index key, the grant indexes (all, by user, by client).
    /// ARGV: grant, ttl ms, id, end of the grant in Unix ms (the index score).
    static let createGrant = RedisScript("""
        if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
        redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
        for i = 3, 5 do redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3]) end
        return 1
        """)

    /// KEYS: user, username, user index. ARGV: id, user, created-at score, username key prefix.
    static let saveUser = RedisScript("""
        local owner = redis.call('GET', KEYS[2])
        if owner and owner ~= ARGV[1] then return redis.error_reply('PIXY_DUPLICATE_USERNAME') end
        local old = redis.call('GET', KEYS[1])
        if old then
            local oldKey = ARGV[4] .. cjson.decode(old)['username']
            if oldKey ~= KEYS[2] then redis.call('DEL', oldKey) end
        end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('SET', KEYS[2], ARGV[1])
        redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[1])
        return 1
        """)

    /// KEYS: username, user index. ARGV: user key prefix.
    static let removeUser = RedisScript("""
        local id = redis.call('GET', KEYS[1])
        if not id then return 0 end
        redis.call('DEL', KEYS[1], ARGV[1] .. id)
        redis.call('ZREM', KEYS[2], id)
        return 1
        """)

    /// KEYS: client, client index, fingerprint key or "". ARGV: id.
    static let removeClient = RedisScript("""
        local removed = redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        if KEYS[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
        return removed
        """)

    /// KEYS: counter. ARGV: now (seconds), window (seconds), TTL (ms). A window that has ended
    /// starts over; returns the count.
    static let recordFailure = RedisScript("""
        local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
        if ends <= tonumber(ARGV[1]) then
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], 'ends', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])))
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return redis.call('HINCRBY', KEYS[1], 'n', 1)
        """)

    /// KEYS: counter. ARGV: now (s), window (s), window (ms), limit. Counts one attempt unless the
    /// window already holds `limit`; returns 1 when counted, 0 when refused.
    static let reserveAttempt = RedisScript("""
        local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
        if ends <= tonumber(ARGV[1]) then
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], 'ends', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])), 'n', 0)
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') >= tonumber(ARGV[4]) then return 0 end
        redis.call('HINCRBY', KEYS[1], 'n', 1)
        return 1
        """)

    /// KEYS: counter. ARGV: now (s). Takes one attempt back, never below zero, in a live window.
    static let releaseAttempt = RedisScript("""
        local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
        if ends <= tonumber(ARGV[1]) then return 0 end
        if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
        return 1
        """)

    /// KEYS: bucket. ARGV: burst, refill per second, now (seconds), TTL (ms). Returns {taken, retry-after}.
    static let takeToken = RedisScript("""
        local burst = tonumber(ARGV[1])
        local rate = tonumber(ARGV[2])
        local now = tonumber(ARGV[3])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1]) or burst
        local at = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
        local taken = 0
        if tokens >= 1 then
            tokens = tokens - 1
            taken = 1
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        local retry = 0
        if tokens < 1 then retry = math.ceil((1 - tokens) / rate) end
        return {taken, retry}
        """)

    /// KEYS: lock. ARGV: the holder's token.
    static let releaseLock = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}

/// Redis key names per object kind, under a global prefix. The kinds shared with the other
/// stores come from ``StorageKey`` (`auth:code:<hash>` as in the spec we were given); each kind
/// has its own namespace, so a value of one kind is unknown as another (SECURITY.md §3).
public struct RedisKeys: Sendable {
    /// Prepended to every key (empty by default), so several deployments can share one Redis.
    public let prefix: String

    /// Keys under `prefix`.
    public init(prefix: String) { self.prefix = prefix }

    /// `auth:code:<sha256 of the code>`.
    public func code(hash: String) -> String { prefix + StorageKey.authorizationCode(hash: hash) }
    /// `auth:used:<sha256 of the code>`.
    public func usedCode(hash: String) -> String { prefix + StorageKey.usedCode(hash: hash) }
    /// `auth:session:<sha256 of the cookie>`.
    public func session(hash: String) -> String { prefix + StorageKey.session(hash: hash) }
    /// `auth:tx:<sha256 of the transaction id>`.
    public func pendingAuthorization(hash: String) -> String { prefix + StorageKey.pendingAuthorization(hash: hash) }
    /// `auth:rt:<sha256 of a refresh token>` → grant id.
    public func refreshToken(hash: String) -> String { prefix + StorageKey.refreshToken(hash: hash) }
    /// `auth:revoked:<jti>`.
    public func revokedToken(id: String) -> String { prefix + StorageKey.revokedToken(id: id) }
    /// `auth:consent:<user>:<client>:<resource>`.
    public func consent(userID: String, clientID: ClientID, resource: String?) -> String {
        prefix + StorageKey.consent(userID: userID, clientID: clientID, resource: resource)
    }
    /// `auth:client:<client_id>`.
    public func client(id: String) -> String { prefix + "auth:client:" + id }
    /// `auth:clients`: client ids scored by creation time.
    public var clientIndex: String { prefix + "auth:clients" }
    /// `auth:client-fingerprint:<fingerprint>` → client id.
    public func clientFingerprint(_ fingerprint: String) -> String { prefix + "auth:client-fingerprint:" + fingerprint }
    /// `auth:user:<id>`.
    public func user(id: String) -> String { prefix + "auth:user:" + id }
    /// `auth:username:<name>` → user id.
    public func username(_ name: String) -> String { prefix + "auth:username:" + name }
    /// `auth:users`: user ids scored by creation time.
    public var userIndex: String { prefix + "auth:users" }
    /// `auth:key:<kid>`.
    public func signingKey(id: String) -> String { prefix + "auth:key:" + id }
    /// `auth:keys`: kids scored by creation time.
    public var signingKeyIndex: String { prefix + "auth:keys" }
    /// `auth:lock:keys`: held while a process creates the first signing key.
    public var keyCreationLock: String { prefix + "auth:lock:keys" }
    /// `auth:throttle:<kind>:<sha256>`: failed-login counters (the key is already hashed).
    public func throttle(_ key: String) -> String { prefix + "auth:throttle:" + key }
    /// `auth:bucket:<sha256>`: a registration token bucket (the key is already hashed).
    public func bucket(_ key: String) -> String { prefix + "auth:bucket:" + key }
    /// `auth:grant:<id>`: a grant and its refresh-token family.
    public func grant(id: String) -> String { prefix + "auth:grant:" + id }
    /// `auth:grants`: every grant id, scored by the grant's end (Unix ms).
    public var grantIndex: String { prefix + "auth:grants" }
    /// `auth:grants:user:<sub>`: a user's grant ids, likewise.
    public func grantIndex(userID: String) -> String { prefix + "auth:grants:user:" + FormParameters.percentEncode(userID) }
    /// `auth:grants:client:<client_id>`: a client's grant ids, likewise (percent-encoded: a client
    /// id may contain `:`).
    public func grantIndex(clientID: ClientID) -> String { prefix + "auth:grants:client:" + FormParameters.percentEncode(clientID.rawValue) }
}
