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

/// Runs a full flow for the public client and returns the code, verifier and access token.
func obtainToken(_ client: some TestClientProtocol) async throws -> (code: String, verifier: String, accessToken: String) {
    let (query, pkce) = TestHarness.authorizeQuery()
    let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
    let token = try await tokenRequest(
        client,
        [
            ("grant_type", "authorization_code"), ("code", code),
            ("code_verifier", pkce.verifier.value), ("client_id", TestHarness.publicClientID.rawValue),
        ])
    return (code, pkce.verifier.value, try #require(try json(token)["access_token"] as? String))
}

let resourceServerBasic =
    "Basic "
    + Data(
        (FormParameters.percentEncode(TestHarness.confidentialClientID.rawValue) + ":"
            + FormParameters.percentEncode(TestHarness.confidentialSecret)).utf8
    ).base64EncodedString()

func introspect(_ client: some TestClientProtocol, _ token: String) async throws -> TestResponse {
    try await client.execute(
        uri: "/introspect", method: .post,
        headers: [.contentType: "application/x-www-form-urlencoded", .authorization: resourceServerBasic],
        body: ByteBuffer(string: FormParameters.encode([("token", token)])))
}

@Suite("docs/security.md §9 over HTTP: /revoke and /introspect")
struct TokenStatusHTTPTests {
    @Test("§9: introspect active → revoke (200, no-store) → introspect exactly {\"active\":false}")
    func revokeThenIntrospect() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (_, _, accessToken) = try await obtainToken(client)
            let active = try await introspect(client, accessToken)
            #expect(active.status == .ok)
            #expect(active.headers[.cacheControl] == "no-store")
            let claims = try json(active)
            #expect(claims["active"] as? Bool == true)
            #expect(claims["client_id"] as? String == TestHarness.publicClientID.rawValue)
            #expect(claims["iss"] as? String == TestHarness.defaultIssuer)

            let revoked = try await client.execute(
                uri: "/revoke", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(
                    string: FormParameters.encode([
                        ("token", accessToken), ("token_type_hint", "access_token"),
                        ("client_id", TestHarness.publicClientID.rawValue),
                    ])))
            #expect(revoked.status == .ok)
            #expect(revoked.headers[.cacheControl] == "no-store")
            let inactive = try await introspect(client, accessToken)
            #expect(inactive.text == #"{"active":false}"#)
        }
    }

    @Test("RFC 7009 §2.2: unknown tokens get 200; a public client cannot introspect")
    func unknownAndPublic() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let unknown = try await client.execute(
                uri: "/revoke", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=garbage&client_id=public-client"))
            #expect(unknown.status == .ok)
            let publicIntrospection = try await client.execute(
                uri: "/introspect", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=garbage&client_id=public-client"))
            #expect(publicIntrospection.status == .unauthorized)
            #expect(try json(publicIntrospection)["error"] as? String == "invalid_client")
            #expect(try await introspect(client, "garbage").text == #"{"active":false}"#)
        }
    }

    @Test("§3 decision over HTTP: replaying a redeemed code with its verifier revokes the token it produced")
    func replayRevokes() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (code, verifier, accessToken) = try await obtainToken(client)
            let replay = try await tokenRequest(
                client,
                [
                    ("grant_type", "authorization_code"), ("code", code),
                    ("code_verifier", verifier), ("client_id", TestHarness.publicClientID.rawValue),
                ])
            #expect(try json(replay)["error"] as? String == "invalid_grant")
            #expect(try await introspect(client, accessToken).text == #"{"active":false}"#)
        }
    }

    @Test("Keys: a token signed with Pixy's own key under an unknown or missing kid is never accepted (no fallback)")
    func noKeyFallback() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let (_, _, accessToken) = try await obtainToken(client)
            let stored = try #require(try await harness.store.allSigningKeys().first)
            let ownKey = try ES256PrivateKey(pem: stored.privateKeyPEM)
            let payloadJSON = try #require(Data(base64Encoded: base64(accessToken.split(separator: ".")[1])))
            let payload = try JSONDecoder().decode(AccessTokenClaimsCheck.self, from: payloadJSON)

            let keys = JWTKeyCollection()
            await keys.add(ecdsa: ownKey, kid: "not-a-pixy-kid")
            var header = JWTHeader()
            header.typ = "at+jwt"
            let unknownKid = try await keys.sign(payload, kid: "not-a-pixy-kid", header: header)
            #expect(try await introspect(client, unknownKid).text == #"{"active":false}"#)

            let noKidKeys = JWTKeyCollection()
            await noKidKeys.add(ecdsa: ownKey)
            let noKid = try await noKidKeys.sign(payload, header: header)
            #expect(try await introspect(client, noKid).text == #"{"active":false}"#)

            let foreign = JWTKeyCollection()
            await foreign.add(ecdsa: ES256PrivateKey(), kid: JWKIdentifier(string: stored.kid))
            let forged = try await foreign.sign(payload, kid: JWKIdentifier(string: stored.kid), header: header)
            #expect(try await introspect(client, forged).text == #"{"active":false}"#)

            #expect(try json(try await introspect(client, accessToken))["active"] as? Bool == true, "the genuine token is still active")
        }
    }

    @Test("§6 / §10: metadata names both endpoints; CORS on /revoke, never on /introspect")
    func metadataAndCORS() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let metadata = try json(try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get))
            #expect(metadata["revocation_endpoint"] as? String == "\(TestHarness.defaultIssuer)/revoke")
            #expect(metadata["introspection_endpoint"] as? String == "\(TestHarness.defaultIssuer)/introspect")
            let revokePreflight = try await client.execute(uri: "/revoke", method: .options, headers: [.origin: "https://app.example.com"])
            #expect(revokePreflight.headers[.accessControlAllowOrigin] == "*")
            let introspectPreflight = try await client.execute(
                uri: "/introspect", method: .options, headers: [.origin: "https://app.example.com"])
            #expect(introspectPreflight.headers[.accessControlAllowOrigin] == nil)
            #expect(try await client.execute(uri: "/introspect", method: .get).status == .methodNotAllowed)
        }
    }
}
