public import PixyCore
public import struct Foundation.Date
import Synchronization
import Logging

/// The live signing keys of a running server: a ``SigningKeyRing`` that can be swapped for a
/// freshly loaded one when `pixy keys rotate` changed the store, without a restart.
public final class SigningKeys: AccessTokenIssuing, AccessTokenVerifying {
    private let ring: Mutex<SigningKeyRing>
    private let store: any SigningKeyStore
    private let clock: any WallClock
    private let issuer: String
    private let retention: Duration

    /// Loads the ring once (creating the first key if needed).
    /// - Parameter retention: how long a retired key keeps verifying: the access token lifetime.
    public init(store: any SigningKeyStore, clock: any WallClock, issuer: String, retention: Duration) async throws {
        self.store = store
        self.clock = clock
        self.issuer = issuer
        self.retention = retention
        ring = Mutex(try await SigningKeyRing.load(from: store, clock: clock, issuer: issuer, retention: retention))
    }

    private var current: SigningKeyRing { ring.withLock { $0 } }

    /// The JWK Set document currently published.
    public var jwksJSON: String { current.jwksJSON }
    /// The `kid` that signs new tokens.
    public var currentKeyID: String { current.currentKeyID }
    /// When the key that signs new tokens was created.
    public var currentKeyCreatedAt: Date { current.currentKeyCreatedAt }

    /// Reloads the ring from the store; returns whether the published key set changed.
    @discardableResult
    public func reload() async throws -> Bool {
        let fresh = try await SigningKeyRing.load(from: store, clock: clock, issuer: issuer, retention: retention)
        return ring.withLock { ring in
            guard ring.keyIDs != fresh.keyIDs || ring.currentKeyID != fresh.currentKeyID else { return false }
            ring = fresh
            return true
        }
    }

    public func issueAccessToken(_ claims: AccessTokenClaims) async throws -> String {
        try await current.issueAccessToken(claims)
    }

    public func verifiedClaims(of token: String) async -> AccessTokenClaims? {
        await current.verifiedClaims(of: token)
    }
}
