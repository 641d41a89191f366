import JWTKit
import Crypto
public import PixyCore
public import PixyModel
public import Foundation

/// The server's ES256 signing keys: loaded (or created on first start) once, kept in memory, and
/// used for every token, so no request ever loads or parses a key.
///
/// The newest unretired key signs; every key is published in the JWKS so that tokens signed
/// before a rotation still verify. A token whose `kid` is unknown never falls back to another key.
public final class SigningKeyRing: AccessTokenIssuing, AccessTokenVerifying {
    private let keys: JWTKeyCollection
    /// The current key as swift-crypto's P-256 key: tokens are signed with it directly.
    private let signingKey: P256.Signing.PrivateKey
    /// `base64url(header) "."`, the same for every token the current key signs.
    private let signingInputPrefix: [UInt8]
    /// The `kid` of the key that signs new tokens.
    public let currentKeyID: String
    /// When the key that signs new tokens was created (the `pixy_signing_key_age_seconds` gauge).
    public let currentKeyCreatedAt: Date
    /// The JWK Set document (RFC 7517 §5) served at `jwks_uri`, serialized once.
    public let jwksJSON: String
    /// Every `kid` this ring verifies.
    public let keyIDs: Set<String>
    private let issuer: String?

    private init(
        keys: JWTKeyCollection, signingKey: P256.Signing.PrivateKey, currentKeyID: String, currentKeyCreatedAt: Date,
        jwksJSON: String, keyIDs: Set<String>, issuer: String?
    ) {
        self.keys = keys
        self.signingKey = signingKey
        var header = JSONObjectWriter(capacity: 128)
        header.add("alg", "ES256")
        header.add("kid", currentKeyID)
        header.add("typ", "at+jwt")
        signingInputPrefix = Array(Base64URL.encode(header.finish()).utf8) + [UInt8(ascii: ".")]
        self.currentKeyID = currentKeyID
        self.currentKeyCreatedAt = currentKeyCreatedAt
        self.jwksJSON = jwksJSON
        self.keyIDs = keyIDs
        self.issuer = issuer
    }

    /// Loads the keys from `store`, creating and saving a first key if none signs.
    ///
    /// A retired key is kept (published and verifying) for `retention` after its retirement, the
    /// longest an access token it signed can live; after that it is dropped.
    /// - Parameter issuer: when given, verification also requires `iss` to equal it.
    public static func load(
        from store: any SigningKeyStore, clock: any WallClock, issuer: String? = nil,
        retention: Duration = .seconds(86400)
    ) async throws -> SigningKeyRing {
        let now = clock.now()
        func usable() async throws -> [SigningKeyRecord] {
            try await store.allSigningKeys().filter { key in
                key.retiredAt.map { $0.addingTimeInterval(retention.timeInterval) > now } ?? true
            }
        }
        var records = try await usable()
        if !records.contains(where: { $0.retiredAt == nil }) {
            // Under the store's lock, look again: another process may have just created one.
            records = try await store.whileCreatingKeys {
                let current = try await usable()
                if current.contains(where: { $0.retiredAt == nil }) { return current }
                let record = try makeKey(createdAt: now)
                try await store.save(record)
                return current + [record]
            }
        }
        let collection = JWTKeyCollection()
        var jwks: [[String: String]] = []
        for record in records {
            let key = try ES256PrivateKey(pem: record.privateKeyPEM)
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: record.kid))
            guard let parameters = key.parameters else {
                throw StorageError.corruptRecord("signing key \(record.kid) has no public parameters")
            }
            jwks.append([
                "kty": "EC", "crv": "P-256", "x": parameters.x, "y": parameters.y,
                "kid": record.kid, "use": "sig", "alg": "ES256",
            ])
        }
        // jwt-kit (5.8) verifies a token whose kid it does not know with its *default* key. Pixy
        // never wants that fallback (docs/security.md §6): no default, and kids are checked first.
        await collection.clearDefault()
        let current = records.filter { $0.retiredAt == nil }.max { $0.createdAt < $1.createdAt }!
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let document = try encoder.encode(["keys": jwks])
        return SigningKeyRing(
            keys: collection, signingKey: try P256.Signing.PrivateKey(pemRepresentation: current.privateKeyPEM),
            currentKeyID: current.kid, currentKeyCreatedAt: current.createdAt,
            jwksJSON: String(decoding: document, as: UTF8.self),
            keyIDs: Set(records.map(\.kid)), issuer: issuer)
    }

    /// Adds a new signing key and retires every other one (`pixy keys rotate`). Running servers
    /// pick the change up on their next reload.
    @discardableResult
    public static func rotate(in store: any SigningKeyStore, clock: any WallClock) async throws -> SigningKeyRecord {
        let now = clock.now()
        for var key in try await store.allSigningKeys() where key.retiredAt == nil {
            key.retiredAt = now
            try await store.save(key)
        }
        let fresh = try makeKey(createdAt: now)
        try await store.save(fresh)
        return fresh
    }

    /// A fresh P-256 key; its `kid` is its RFC 7638 JWK thumbprint, so the id is derived from the
    /// key itself and can never name a different key.
    public static func makeKey(createdAt: Date) throws -> SigningKeyRecord {
        let key = ES256PrivateKey()
        guard let parameters = key.parameters else { throw StorageError.failed("new key has no public parameters") }
        return SigningKeyRecord(
            kid: thumbprint(x: parameters.x, y: parameters.y), algorithm: "ES256",
            privateKeyPEM: key.pemRepresentation, createdAt: createdAt)
    }

    /// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
    static func thumbprint(x: String, y: String) -> String {
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        return Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
    }

    /// Signs `claims` as an RFC 9068 access token: JWS compact serialization (RFC 7515 §7.1) with
    /// header `alg: ES256`, `kid`, `typ: at+jwt` (RFC 9068 §2.1) and an ES256 signature (RFC 7518
    /// §3.4: R and S, 32 bytes each). The header is encoded once per key and the claims are
    /// written directly (docs/performance.md); verification still goes through jwt-kit, so every
    /// test that verifies an issued token checks this encoding against an independent decoder.
    public func issueAccessToken(_ claims: AccessTokenClaims) async throws -> String {
        var payload = JSONObjectWriter(capacity: 384)
        payload.add("aud", claims.audience)
        payload.addIfPresent("auth_time", claims.authTime.map { Int($0.timeIntervalSince1970) })
        payload.add("client_id", claims.clientID.rawValue)
        // NumericDate in whole seconds: fractional values are legal (RFC 7519 §2) but trip validators.
        payload.add("exp", Int(claims.expiresAt.timeIntervalSince1970.rounded(.down)))
        payload.addIfPresent("grant_id", claims.grantID)
        payload.add("iat", Int(claims.issuedAt.timeIntervalSince1970.rounded(.down)))
        payload.add("iss", claims.issuer)
        payload.add("jti", claims.tokenID)
        if !claims.scope.isEmpty { payload.add("scope", claims.scope.description) }
        payload.add("sub", claims.subject)
        var signingInput = signingInputPrefix
        signingInput.append(contentsOf: Base64URL.encode(payload.finish()).utf8)
        let signature = try signingKey.signature(for: signingInput).rawRepresentation
        signingInput.append(UInt8(ascii: "."))
        signingInput.append(contentsOf: Base64URL.encode(signature).utf8)
        return String(decoding: signingInput, as: UTF8.self)
    }

    /// Verifies signature, `typ`, `kid` and (when configured) `iss`. The `kid` must name one of
    /// this ring's keys; a token without one, or with another, is refused before any signature check.
    public func verifiedClaims(of token: String) async -> AccessTokenClaims? {
        guard let header = JOSEHeader(compactToken: token), header.isPlain,
            header.type == "at+jwt", header.algorithm == "ES256", let kid = header.keyID, keyIDs.contains(kid),
            let payload = try? await keys.verify(token, as: AccessTokenPayload.self),
            let claims = payload.claims
        else { return nil }
        if let issuer, claims.issuer != issuer { return nil }
        return claims
    }
}
