import Foundation
import PixyCore
import PixyModel
import PixyTesting
import Testing

@Suite("docs/security.md §3 decision: code replay defence")
struct CodeReplayTests {
    @Test("§3: a replay with the right client and verifier revokes the tokens issued from the code")
    func replayByLegitimateClientRevokes() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        _ = try await fixture.redeem(TokenFixture.form(code: code)).get()
        let jti = try #require(fixture.issuer.issued.all.first?.tokenID)
        #expect(try await !fixture.core.store.isTokenRevoked(id: jti))
        #expect(await fixture.redeem(TokenFixture.form(code: code)).errorCode == .invalidGrant)
        #expect(try await fixture.core.store.isTokenRevoked(id: jti))
    }

    @Test("§3: a replay without the verifier, or by another client, revokes nothing")
    func replayByOthersRevokesNothing() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        _ = try await fixture.redeem(TokenFixture.form(code: code)).get()
        let jti = try #require(fixture.issuer.issued.all.first?.tokenID)
        try await fixture.core.store.save(
            Client(clientID: "other", redirectURIs: [CoreFixture.redirect], createdAt: fixture.core.clock.now()))
        #expect(await fixture.redeem(TokenFixture.form(code: code, verifier: CodeVerifier.generate().value)).errorCode == .invalidGrant)
        #expect(await fixture.redeem(TokenFixture.form(code: code, clientID: "other")).errorCode == .invalidGrant)
        #expect(try await !fixture.core.store.isTokenRevoked(id: jti))
    }

    @Test("§3: a code burnt by a wrong verifier leaves no marker, so nothing can be revoked through it")
    func burntCodeLeavesNoMarker() async throws {
        let fixture = try await TokenFixture()
        let code = try await fixture.issueCode()
        _ = await fixture.redeem(TokenFixture.form(code: code, verifier: CodeVerifier.generate().value))
        #expect(try await fixture.core.store.usedCodeMarker(codeHash: SecretHash.sha256Hex(code)) == nil)
    }
}

/// A fixture with one token issued to `app` and one to `secret-basic`.
struct StatusFixture {
    let tokens: TokenFixture
    let appToken: String
    let otherToken: String

    init() async throws {
        tokens = try await TokenFixture()
        let code = try await tokens.issueCode()
        appToken = try await tokens.redeem(TokenFixture.form(code: code)).get().accessToken
        let second = try await tokens.issueCode(["client_id": "secret-basic"])
        otherToken = try await tokens.redeem(TokenFixture.form(code: second, clientID: nil), basic: ("secret-basic", "s3cret")).get()
            .accessToken
    }

    var revocation: TokenRevocation {
        TokenRevocation(
            clients: tokens.core.store, verifier: tokens.issuer, tokenStatus: tokens.core.store, grants: tokens.core.store,
            policy: tokens.core.policy, clock: tokens.core.clock)
    }
    var introspection: TokenIntrospection {
        TokenIntrospection(
            clients: tokens.core.store, users: tokens.core.store, verifier: tokens.issuer, tokenStatus: tokens.core.store,
            clock: tokens.core.clock)
    }

    func revoke(_ token: String?, clientID: String = "app") async -> Result<TokenRevocation.Outcome, OAuthError> {
        var pairs = [("client_id", clientID)]
        if let token { pairs.append(("token", token)) }
        do { return .success(try await revocation.handle(FormParameters(pairs), basic: nil)) } catch { return .failure(error) }
    }

    func introspect(_ token: String, basic: (String, String)? = ("secret-basic", "s3cret"), clientID: String? = nil) async -> Result<
        IntrospectionResponse, OAuthError
    > {
        var pairs = [("token", token)]
        if let clientID { pairs.append(("client_id", clientID)) }
        do { return .success(try await introspection.handle(FormParameters(pairs), basic: basic.map { ($0.0, $0.1) })) } catch {
            return .failure(error)
        }
    }
}

@Suite("docs/security.md §9: revocation (RFC 7009) and introspection (RFC 7662)")
struct RevocationAndIntrospectionTests {
    @Test("RFC 7009 §2: a client revokes its own token; introspection then says inactive")
    func revokeOwn() async throws {
        let fixture = try await StatusFixture()
        #expect(try await fixture.introspect(fixture.appToken).get().active)
        #expect(try await fixture.revoke(fixture.appToken).get() == .revoked)
        #expect(try await fixture.introspect(fixture.appToken).get() == .inactive)
    }

    @Test("§9: another client's token is left alone, and answered like an unknown one")
    func foreignTokenUntouched() async throws {
        let fixture = try await StatusFixture()
        #expect(try await fixture.revoke(fixture.otherToken).get() == .foreign)
        #expect(try await fixture.introspect(fixture.otherToken).get().active)
    }

    @Test("§9: unknown and expired tokens: nothing to revoke, inactive on introspection")
    func unknownAndExpired() async throws {
        let fixture = try await StatusFixture()
        #expect(try await fixture.revoke("token-unknown").get() == .unknown)
        #expect(try await fixture.introspect("token-unknown").get() == .inactive)
        fixture.tokens.core.clock.advance(by: .seconds(901))
        #expect(try await fixture.revoke(fixture.appToken).get() == .unknown)
        #expect(try await fixture.introspect(fixture.appToken).get() == .inactive)
    }

    @Test("RFC 7009 §2.1: a missing token is invalid_request; a client must identify itself")
    func revocationRequestShape() async throws {
        let fixture = try await StatusFixture()
        #expect(await fixture.revoke(nil).errorCode == .invalidRequest)
        #expect(await fixture.revoke(fixture.appToken, clientID: "nobody").errorCode == .invalidClient)
    }

    @Test("RFC 7662 §2.1: the caller must authenticate as a confidential client")
    func introspectionNeedsConfidentialClient() async throws {
        let fixture = try await StatusFixture()
        #expect(await fixture.introspect(fixture.appToken, basic: nil, clientID: "app").errorCode == .invalidClient)
        #expect(await fixture.introspect(fixture.appToken, basic: ("secret-basic", "wrong")).errorCode == .invalidClient)
        #expect(await fixture.introspect(fixture.appToken, basic: nil).errorCode == .invalidClient)
    }

    @Test("RFC 7662 §2.2: an inactive token is exactly {\"active\":false}; an active one carries its claims")
    func responseShape() async throws {
        #expect(String(decoding: try JSONEncoder().encode(IntrospectionResponse.inactive), as: UTF8.self) == #"{"active":false}"#)
        let fixture = try await StatusFixture()
        let active = try await fixture.introspect(fixture.appToken).get()
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(active)) as! [String: Any]
        #expect(object["active"] as? Bool == true)
        #expect(object["client_id"] as? String == "app")
        #expect(object["token_type"] as? String == "Bearer")
        for key in ["sub", "aud", "iss", "exp", "iat", "jti"] { #expect(object[key] != nil, "\(key)") }
    }
}
