import JWTKit
import Crypto
public import PixyCore
public import PixyModel
public import Foundation

/// The server's ES256 signing keys: loaded (or created on first start) once, kept in memory, and
/// used for every token, so no request ever loads or parses a key (issue 2 §8).
///
/// The newest unretired key signs; every key is published in the JWKS so that tokens signed
/// before a rotation still verify. A token whose `kid` is unknown never falls back to another key.
public final class SigningKeyRing: AccessTokenIssuing {
    private let keys: JWTKeyCollection
    /// The `kid` of the key that signs new tokens.
    public let currentKeyID: String
    /// The JWK Set document (RFC 7517 §5) served at `jwks_uri`, serialized once.
    public let jwksJSON: String

    private init(keys: JWTKeyCollection, currentKeyID: String, jwksJSON: String) {
        self.keys = keys
        self.currentKeyID = currentKeyID
        self.jwksJSON = jwksJSON
    }

    /// Loads every key from `store`, creating and saving a first key if there is none.
    public static func load(from store: any SigningKeyStore, clock: any WallClock) async throws -> SigningKeyRing {
        var records = try await store.allSigningKeys()
        if !records.contains(where: { $0.retiredAt == nil }) {
            let record = try makeKey(createdAt: clock.now())
            try await store.save(record)
            records.append(record)
        }
        let collection = JWTKeyCollection()
        var jwks: [[String: String]] = []
        for record in records {
            let key = try ES256PrivateKey(pem: record.privateKeyPEM)
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: record.kid))
            guard let parameters = key.parameters else { throw StorageError("signing key \(record.kid) has no public parameters") }
            jwks.append(["kty": "EC", "crv": "P-256", "x": parameters.x, "y": parameters.y,
                         "kid": record.kid, "use": "sig", "alg": "ES256"])
        }
        let current = records.filter { $0.retiredAt == nil }.max { $0.createdAt < $1.createdAt }!
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let document = try encoder.encode(["keys": jwks])
        return SigningKeyRing(keys: collection, currentKeyID: current.kid, jwksJSON: String(decoding: document, as: UTF8.self))
    }

    /// A fresh P-256 key; its `kid` is its RFC 7638 JWK thumbprint, so the id is derived from the
    /// key itself and can never name a different key.
    public static func makeKey(createdAt: Date) throws -> SigningKeyRecord {
        let key = ES256PrivateKey()
        guard let parameters = key.parameters else { throw StorageError("new key has no public parameters") }
        return SigningKeyRecord(kid: thumbprint(x: parameters.x, y: parameters.y), algorithm: "ES256",
                                privateKeyPEM: key.pemRepresentation, createdAt: createdAt)
    }

    /// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
    static func thumbprint(x: String, y: String) -> String {
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        return Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
    }

    /// Signs `claims` as an RFC 9068 access token: header `typ: at+jwt`, `alg: ES256`, `kid`.
    public func issueAccessToken(_ claims: AccessTokenClaims) async throws -> String {
        var header = JWTHeader()
        header.typ = "at+jwt"
        header.alg = "ES256"
        return try await keys.sign(AccessTokenPayload(claims), kid: JWKIdentifier(string: currentKeyID), header: header)
    }
}
