import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
import PixyModel
import PixyTesting
import Testing

@Suite("docs/security.md §5 over HTTP: refresh")
struct RefreshHTTPTests {
    @Test("§5: a client registered with refresh_token gets one, refreshes with rotation, and reuse kills the family")
    func refreshOverHTTP() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let registered = try json(
                try await client.execute(
                    uri: "/register", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(
                        string:
                            #"{"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"MCP client"}"#
                    )))
            let clientID = try #require(registered["client_id"] as? String)
            #expect(registered["grant_types"] as? [String] == ["authorization_code", "refresh_token"])
            let (query, pkce) = TestHarness.authorizeQuery(
                clientID: ClientID(clientID), redirectURI: "http://127.0.0.1:5555/callback",
                scope: "read", extra: [("resource", "https://mcp.example.com/mcp")])
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            let first = try json(
                try await tokenRequest(
                    client,
                    [
                        ("grant_type", "authorization_code"), ("code", code),
                        ("code_verifier", pkce.verifier.value), ("client_id", clientID),
                    ]))
            let rt1 = try #require(first["refresh_token"] as? String)

            let refreshed = try await tokenRequest(
                client,
                [
                    ("grant_type", "refresh_token"), ("refresh_token", rt1), ("client_id", clientID),
                    ("resource", "https://mcp.example.com/mcp"),
                ])
            #expect(refreshed.status == .ok)
            #expect(refreshed.headers[.cacheControl] == "no-store")
            let body = try json(refreshed)
            let rt2 = try #require(body["refresh_token"] as? String)
            #expect(rt2 != rt1)
            let newAccess = try #require(body["access_token"] as? String)
            #expect(try json(try await introspect(client, newAccess))["aud"] as? String == "https://mcp.example.com/mcp")

            _ = try await tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", rt2), ("client_id", clientID)])
            let reuse = try await tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", rt1), ("client_id", clientID)])
            #expect(try json(reuse)["error"] as? String == "invalid_grant")
            #expect(try await introspect(client, newAccess).text == #"{"active":false}"#, "reuse revoked the family's access tokens")
            #expect(!harness.logs.allLines.contains { $0.contains(rt1) || $0.contains(rt2) })
        }
    }
}
