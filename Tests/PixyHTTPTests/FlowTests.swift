import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import JWTKit
import NIOCore
import PixyCore
import PixyModel
import PixyTesting
import Testing

struct AccessTokenClaimsCheck: JWTPayload, Codable {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var jti: IDClaim
    var client_id: String
    var scope: String?
    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired(currentDate: Date(timeIntervalSince1970: 1_800_000_100))
    }
}

@Suite("The whole PKCE flow over HTTP")
struct FlowTests {
    @Test("RFC 6749 §4.1 + RFC 7636: authorize, log in, consent, redeem; the JWT verifies against the JWKS")
    func fullFlow() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let (query, pkce) = TestHarness.authorizeQuery(scope: "read write", extra: [("resource", "https://mcp.example.com/mcp")])
            let redirect = try await browser.authorize(client, query: query)
            #expect(redirect.status == .seeOther, "docs/security.md §8: 303 after POST, never 307")
            let location = try #require(redirect.headers[.location])
            #expect(location.hasPrefix(TestHarness.redirectURI + "?"))
            #expect(!location.contains("#"), "nothing in the fragment")
            let parameters = redirect.locationParameters
            #expect(parameters["state"] == "state-123")
            #expect(parameters["iss"] == TestHarness.defaultIssuer, "RFC 9207")
            let code = try #require(parameters["code"])

            let token = try await tokenRequest(
                client,
                [
                    ("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value),
                    ("client_id", TestHarness.publicClientID.rawValue), ("redirect_uri", TestHarness.redirectURI),
                    ("resource", "https://mcp.example.com/mcp"),
                ])
            #expect(token.status == .ok)
            #expect(token.headers[.cacheControl] == "no-store")
            #expect(token.headers[HTTPField.Name("Pragma")!] == "no-cache")
            let body = try json(token)
            #expect(body["token_type"] as? String == "Bearer")
            #expect(body["scope"] as? String == "read write")
            let accessToken = try #require(body["access_token"] as? String)

            let jwks = try await client.execute(uri: "/jwks.json", method: .get)
            let keys = try await JWTKeyCollection().add(jwksJSON: jwks.text)
            let claims = try await keys.verify(accessToken, as: AccessTokenClaimsCheck.self)
            #expect(claims.aud.value == ["https://mcp.example.com/mcp"])
            #expect(claims.iss.value == TestHarness.defaultIssuer)
            #expect(claims.sub.value == harness.user.id)
            #expect(claims.client_id == TestHarness.publicClientID.rawValue)
            #expect(claims.scope == "read write")
            let header = try #require(Data(base64Encoded: base64(accessToken.split(separator: ".")[0])))
            let headerJSON = try #require(try JSONSerialization.jsonObject(with: header) as? [String: String])
            #expect(headerJSON["typ"] == "at+jwt", "RFC 9068 §2.1")
            #expect(headerJSON["alg"] == "ES256")
        }
    }

    @Test("RFC 6749 §4.1.2.1: deny sends access_denied with state and iss")
    func deny() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let redirect = try await Browser().authorize(client, query: TestHarness.authorizeQuery().query, decision: "deny")
            #expect(redirect.status == .seeOther)
            #expect(redirect.locationParameters["error"] == "access_denied")
            #expect(redirect.locationParameters["state"] == "state-123")
            #expect(redirect.locationParameters["iss"] == TestHarness.defaultIssuer)
            #expect(redirect.locationParameters["code"] == nil)
        }
    }

    @Test("RFC 8252 §7.3: the code goes to the loopback port the app asked for")
    func loopbackPort() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery(redirectURI: "http://127.0.0.1:49152/cb")
            let redirect = try await Browser().authorize(client, query: query)
            #expect(redirect.headers[.location]?.hasPrefix("http://127.0.0.1:49152/cb?code=") == true)
        }
    }

    @Test("A first-party client skips consent; with a session, /authorize answers with the code at once")
    func firstPartySkipsConsent() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let first = try await browser.authorize(
                client, query: TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)
            #expect(first.locationParameters["code"] != nil)
            let again = try await browser.get(
                client, "/authorize?\(TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID).query)")
            #expect(again.status == .found)
            #expect(again.locationParameters["code"] != nil)
            let forced = try await browser.get(
                client,
                "/authorize?\(TestHarness.authorizeQuery(clientID: TestHarness.firstPartyClientID, extra: [("prompt", "consent")]).query)")
            #expect(forced.headers[.location]?.hasPrefix("/consent") == true)
        }
    }

    @Test("prompt=none: login_required without a session, consent_required for a client that needs consent")
    func promptNone() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let noSession = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(extra: [("prompt", "none")]).query)")
            #expect(noSession.locationParameters["error"] == "login_required")
            _ = try await browser.authorize(client, query: TestHarness.authorizeQuery().query)
            let needsConsent = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(extra: [("prompt", "none")]).query)")
            #expect(needsConsent.locationParameters["error"] == "consent_required")
            #expect(needsConsent.locationParameters["iss"] == TestHarness.defaultIssuer)
        }
    }

    @Test("docs/security.md §3: a code expires after its lifetime (manual clock, no sleep)")
    func codeExpiry() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (query, pkce) = TestHarness.authorizeQuery()
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            harness.clock.advance(by: .seconds(61))
            let token = try await tokenRequest(
                client,
                [
                    ("grant_type", "authorization_code"), ("code", code),
                    ("code_verifier", pkce.verifier.value), ("client_id", TestHarness.publicClientID.rawValue),
                ])
            #expect(token.status == .badRequest)
            #expect(try json(token)["error"] as? String == "invalid_grant")
        }
    }
}

func base64(_ base64url: Substring) -> String {
    var text = base64url.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while text.count % 4 != 0 { text += "=" }
    return text
}
