import Foundation
import PixyCore
import PixyModel
import Testing

/// `ConsentPolicy.newTokens(in:for:remembered:grants:now:)`: which scopes the consent page marks
/// "new" (RFC 8252 §8.6: public clients still always see the page; only the marking changes).
@Suite("Step-up consent marks scopes beyond the user's live grant, for public clients too")
struct ConsentStepUpTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let publicClient = Client(clientID: "native", redirectURIs: ["http://127.0.0.1/cb"], createdAt: now)
    static let confidential = Client(
        clientID: "backend", redirectURIs: ["https://app.example.com/cb"],
        tokenEndpointAuthMethod: .clientSecretBasic, secretHash: "-", createdAt: now)

    static func request(_ scope: String, client: ClientID = "native", resource: String? = "https://mcp.example.com/mcp")
        -> AuthorizationRequest
    {
        AuthorizationRequest(
            clientID: client, redirectURI: "http://127.0.0.1/cb", redirectURIWasSent: true,
            codeChallenge: CodeChallenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")!,
            scope: Scope(parsing: scope)!, resource: resource, state: nil)
    }

    static func grant(
        _ scope: String, client: ClientID = "native", resource: String? = "https://mcp.example.com/mcp",
        expiresIn: TimeInterval = 3600, idleIn: TimeInterval = 3600, revoked: Bool = false
    ) -> Grant {
        var grant = Grant(
            id: UUID().uuidString, clientID: client, subject: "user-1", scope: Scope(parsing: scope)!, resource: resource,
            authTime: now, createdAt: now.addingTimeInterval(-60), expiresAt: now.addingTimeInterval(expiresIn),
            idleExpiresAt: now.addingTimeInterval(idleIn), currentTokenHash: "h")
        if revoked { grant.revokedAt = now.addingTimeInterval(-1) }
        return grant
    }

    @Test("A public client with a live grant for the same resource: scopes outside the grant are new")
    func publicClientLiveGrantMarksNewScopes() {
        let new = ConsentPolicy.newTokens(
            in: Self.request("read write admin"), for: Self.publicClient, remembered: nil,
            grants: [Self.grant("read")], now: Self.now)
        #expect(new == ["write", "admin"])
    }

    @Test("Several live grants: the union of their scopes counts as approved")
    func grantsAreUnited() {
        let new = ConsentPolicy.newTokens(
            in: Self.request("read write admin"), for: Self.publicClient, remembered: nil,
            grants: [Self.grant("read"), Self.grant("write")], now: Self.now)
        #expect(new == ["admin"])
    }

    @Test("A first approval (no grant, no remembered consent) marks nothing")
    func firstApprovalMarksNothing() {
        #expect(
            ConsentPolicy.newTokens(
                in: Self.request("read write"), for: Self.publicClient, remembered: nil, grants: [],
                now: Self.now
            ).isEmpty)
    }

    @Test("Revoked, expired and idle-expired grants are not approvals")
    func deadGrantsDoNotCount() {
        let dead = [Self.grant("read", revoked: true), Self.grant("read", expiresIn: -1), Self.grant("read", idleIn: 0)]
        #expect(
            ConsentPolicy.newTokens(
                in: Self.request("read write"), for: Self.publicClient, remembered: nil, grants: dead,
                now: Self.now
            ).isEmpty)
    }

    @Test("Another client's grant, or a grant for another resource, is not an approval for this request")
    func otherClientOrResourceDoesNotCount() {
        let others = [
            Self.grant("read", client: "someone-else"), Self.grant("read", resource: "https://other.example.com/mcp"),
            Self.grant("read", resource: nil),
        ]
        #expect(
            ConsentPolicy.newTokens(
                in: Self.request("read write"), for: Self.publicClient, remembered: nil, grants: others,
                now: Self.now
            ).isEmpty)
    }

    @Test("Remembered consent of a public client is ignored (it may not be remembered, RFC 8252 §8.6)")
    func publicClientRecordIgnored() {
        let record = ConsentRecord(scope: Scope(validatedTokens: ["read"]), updatedAt: Self.now)
        #expect(
            ConsentPolicy.newTokens(
                in: Self.request("read write"), for: Self.publicClient, remembered: record, grants: [],
                now: Self.now
            ).isEmpty)
    }

    @Test("A confidential client's remembered consent and live grants both count as approved")
    func confidentialRecordAndGrants() {
        let record = ConsentRecord(scope: Scope(validatedTokens: ["read"]), updatedAt: Self.now)
        let new = ConsentPolicy.newTokens(
            in: Self.request("read write admin", client: "backend"), for: Self.confidential,
            remembered: record, grants: [Self.grant("write", client: "backend")], now: Self.now)
        #expect(new == ["admin"])
    }

    @Test("Marking never skips consent: a public client with a grant covering the request still needs the page")
    func publicClientStillNeedsConsent() {
        #expect(!ConsentPolicy.remembers(Self.publicClient))
        let record = ConsentRecord(scope: Scope(validatedTokens: ["read"]), updatedAt: Self.now)
        #expect(!ConsentPolicy.isCovered(Self.request("read"), by: record, for: Self.publicClient))
    }
}
