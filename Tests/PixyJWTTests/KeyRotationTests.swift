import Foundation
import PixyCore
import PixyJWT
import PixyModel
import PixySQLite
import PixyTesting
import Testing

@Suite("Key rotation (docs/operations.md, signing keys)")
struct KeyRotationTests {
    @Test("A rotated-out key keeps verifying and stays published until its tokens have expired, then it is gone")
    func retiredKeyRetention() async throws {
        let clock = ManualClock()
        let store = InMemoryStore(clock: clock)
        let keys = try await SigningKeys(store: store, clock: clock, issuer: "https://auth.example.com", retention: .seconds(900))
        let oldKid = keys.currentKeyID
        let oldToken = try await keys.issueAccessToken(sampleClaims(clock: clock))

        let fresh = try await SigningKeyRing.rotate(in: store, clock: clock)
        #expect(try await keys.reload())
        #expect(keys.currentKeyID == fresh.kid && fresh.kid != oldKid)
        #expect(keys.jwksJSON.contains(oldKid) && keys.jwksJSON.contains(fresh.kid))
        #expect(await keys.verifiedClaims(of: oldToken) != nil, "tokens signed before the rotation still verify")
        let newToken = try await keys.issueAccessToken(sampleClaims(clock: clock))
        let header = String(decoding: Base64URL.decode(String(newToken.split(separator: ".")[0]))!, as: UTF8.self)
        #expect(header.contains(fresh.kid))
        #expect(try await !keys.reload(), "nothing changed")

        clock.advance(by: .seconds(901))
        #expect(try await keys.reload())
        #expect(!keys.jwksJSON.contains(oldKid))
        #expect(await keys.verifiedClaims(of: oldToken) == nil)
        #expect(await keys.verifiedClaims(of: newToken) != nil)
    }

    @Test("Verification requires this issuer's iss")
    func issuerChecked() async throws {
        let clock = ManualClock()
        let keys = try await SigningKeys(
            store: InMemoryStore(clock: clock), clock: clock, issuer: "https://auth.example.com", retention: .seconds(900))
        let foreignIssuer = try await keys.issueAccessToken(sampleClaims(clock: clock, issuer: "https://other.example.com"))
        #expect(await keys.verifiedClaims(of: foreignIssuer) == nil)
    }
}
