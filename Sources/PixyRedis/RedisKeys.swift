public import PixyCore

/// Redis key names per object kind, under a global prefix. The kinds shared with the other
/// stores come from ``StorageKey`` (`auth:code:<hash>`, docs/architecture.md, Storage); each kind
/// has its own namespace, so a value of one kind is unknown as another (docs/security.md §3).
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

    /// `auth:consent-index:<user>:<client>`: a set of the user's consent keys for the client.
    public func consentIndex(userID: String, clientID: ClientID) -> String {
        prefix + "auth:consent-index:" + StorageKey.consentPrefix(userID: userID, clientID: clientID).dropFirst("auth:consent:".count)
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
    public func grantIndex(clientID: ClientID) -> String {
        prefix + "auth:grants:client:" + FormParameters.percentEncode(clientID.rawValue)
    }
}
