public import struct Foundation.Date
public import PixyModel
import Crypto
import Foundation

/// The pure rules of a refresh-token family (docs/security.md §5), applied inside one atomic store
/// update. No I/O, no clock: `now` is passed in.
public enum RefreshTokenFamily {
    /// What presenting a refresh token does to its family.
    public enum Outcome: Sendable, Equatable {
        /// The newest token was used: the family moved one generation on; `newToken` is the
        /// token to return.
        case rotated(newToken: String)
        /// The previous token was used while the newest had not been used yet, within the retry
        /// window after the rotation: the client lost the response or raced itself. It gets the
        /// same newest token again (idempotent).
        case repeated(newToken: String)
        /// Not rotated (rotation switched off for this confidential client): keep using the token.
        case accepted
        /// An older generation was presented, or the previous token after the retry window: the
        /// family is now revoked, and with it its access tokens (``GrantRevocation``).
        case reuseDetected
        /// Revoked, expired or idle too long.
        case dead
        /// Scope wider than the grant.
        case invalidScope
        /// Resource outside the grant.
        case invalidTarget
    }

    /// The request, as far as the family is concerned.
    public struct Presentation: Sendable {
        /// The refresh token presented (needed to seal and unseal the newest token).
        public var token: String
        /// Scope requested, if any.
        public var scope: Scope?
        /// Resource requested, if any.
        public var resource: String?
        /// A fresh token to issue if the family rotates.
        public var replacement: String
        /// Whether this client's tokens rotate on every use.
        public var rotates: Bool

        /// Bundles a presentation.
        public init(token: String, scope: Scope?, resource: String?, replacement: String, rotates: Bool) {
            self.token = token
            self.scope = scope
            self.resource = resource
            self.replacement = replacement
            self.rotates = rotates
        }
    }

    /// Applies `presentation` to `grant`. Returns what to persist: a failed refresh (scope,
    /// resource, dead family) changes nothing; reuse revokes the family.
    ///
    /// `retryWindow` bounds the idempotent retry: the previous token returns the newest one only
    /// this long after the rotation. Later it counts as reuse (RFC 9700 §4.14.2), so a thief who
    /// alternates with the victim is detected the first time either comes back late.
    public static func present(
        _ presentation: Presentation, to grant: inout Grant, now: Date, idleLifetime: Duration,
        retryWindow: Duration
    ) -> GrantUpdate<Outcome> {
        let presentedHash = SecretHash.sha256Hex(presentation.token)
        guard grant.revokedAt == nil, now < grant.expiresAt, now < grant.idleExpiresAt else { return .keep(.dead) }

        let isCurrent = ConstantTime.isEqual(presentedHash, grant.currentTokenHash)
        let isPrevious = grant.previousTokenHash.map { ConstantTime.isEqual(presentedHash, $0) } ?? false
        let retryIsOver = grant.rotatedAt.map { now.timeIntervalSince($0) > retryWindow.timeInterval } ?? false
        guard isCurrent || (isPrevious && !retryIsOver) else {
            // RFC 9700 §4.14.2: an older generation came back, so someone holds a stolen token.
            grant.revoke(at: now)
            return .save(.reuseDetected, newTokenHash: nil)
        }
        // RFC 6749 §6: the scope may narrow, never widen; RFC 8707: the resource stays in the grant.
        if let scope = presentation.scope, !scope.isSubset(of: grant.scope) { return .keep(.invalidScope) }
        if let resource = presentation.resource, resource != grant.resource { return .keep(.invalidTarget) }

        grant.lastUsedAt = now
        grant.idleExpiresAt = min(grant.expiresAt, now.addingTimeInterval(idleLifetime.timeInterval))

        if isPrevious {
            guard let sealed = grant.sealedCurrentToken,
                let newest = unseal(sealed, with: presentation.token, grantID: grant.id)
            else { return .keep(.dead) }
            return .save(.repeated(newToken: newest), newTokenHash: nil)
        }
        guard presentation.rotates else { return .save(.accepted, newTokenHash: nil) }
        let replacementHash = SecretHash.sha256Hex(presentation.replacement)
        grant.previousTokenHash = grant.currentTokenHash
        grant.currentTokenHash = replacementHash
        grant.generation += 1
        grant.rotatedAt = now
        grant.sealedCurrentToken = seal(presentation.replacement, with: presentation.token, grantID: grant.id)
        return .save(.rotated(newToken: presentation.replacement), newTokenHash: replacementHash)
    }

    /// The key only the holder of `token` can derive: HKDF-SHA256 over the token, salted with the grant id.
    static func key(for token: String, grantID: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(token.utf8)), salt: Array(grantID.utf8),
            info: Array("pixy refresh token retry".utf8), outputByteCount: 32)
    }

    static func seal(_ newest: String, with token: String, grantID: String) -> String? {
        guard let box = try? AES.GCM.seal(Array(newest.utf8), using: key(for: token, grantID: grantID)), let combined = box.combined else {
            return nil
        }
        return Base64URL.encode(combined)
    }

    static func unseal(_ sealed: String, with token: String, grantID: String) -> String? {
        guard let bytes = Base64URL.decode(sealed), let box = try? AES.GCM.SealedBox(combined: bytes),
            let plain = try? AES.GCM.open(box, using: key(for: token, grantID: grantID))
        else { return nil }
        return String(decoding: plain, as: UTF8.self)
    }
}
