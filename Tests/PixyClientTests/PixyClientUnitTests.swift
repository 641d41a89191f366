import Foundation
import PixyModel
import Testing

@testable import PixyClient

@Suite("PixyClient: the pieces")
struct PixyClientUnitTests {
    @Test("RFC 6750 §3 / RFC 9728 §5.1: a Bearer challenge's parameters are read, quoted or not, after another scheme")
    func bearerChallenge() throws {
        let header =
            #"Basic realm="x", Bearer error="insufficient_scope", scope="read write", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp", error_description=bad\"#
        let challenge = try #require(BearerChallenge(header: header))
        #expect(challenge.error == "insufficient_scope")
        #expect(challenge.scope == ["read", "write"])
        #expect(challenge.resourceMetadata == "https://mcp.example/.well-known/oauth-protected-resource/mcp")
        #expect(BearerChallenge(header: #"Basic realm="only basic""#) == nil)
        #expect(BearerChallenge(header: #"Bearer realm="a \"quoted\" realm""#)?.parameters["realm"] == #"a "quoted" realm"#)
    }

    @Test("RFC 9728 §3.1 and RFC 8414 §3.1: well-known URLs in the order MCP clients try them")
    func wellKnownOrder() {
        let resource = URL(string: "https://mcp.example.com/tools/mcp")!
        #expect(
            WellKnown.protectedResourceMetadataURLs(for: resource).map(\.absoluteString) == [
                "https://mcp.example.com/.well-known/oauth-protected-resource/tools/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ])
        #expect(
            WellKnown.authorizationServerMetadataURLs(for: URL(string: "https://auth.example.com/tenant1")!).map(\.absoluteString) == [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ])
        #expect(
            WellKnown.authorizationServerMetadataURLs(for: URL(string: "http://127.0.0.1:8080")!).map(\.absoluteString) == [
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server",
                "http://127.0.0.1:8080/.well-known/openid-configuration",
            ])
    }

    static func server(issParameterSupported: Bool) -> DiscoveredServer {
        var metadata = AuthorizationServerMetadata(
            issuer: "https://auth.example.com", authorizationEndpoint: URL(string: "https://auth.example.com/authorize")!,
            tokenEndpoint: URL(string: "https://auth.example.com/token")!)
        metadata.issParameterSupported = issParameterSupported
        return DiscoveredServer(
            resource: "https://mcp.example.com/mcp", resourceMetadata: nil, challenge: nil, issuer: "https://auth.example.com",
            metadata: metadata, metadataURL: nil)
    }

    @Test("RFC 9207 §2.4 and RFC 6749 §4.1.2: a response with another iss, no promised iss, or another state is refused")
    func authorizationResponseChecks() throws {
        let redirect = URL(string: "http://127.0.0.1:5000/callback")!
        let promised = Self.server(issParameterSupported: true)
        let good = URL(string: "http://127.0.0.1:5000/callback?code=abc&state=s1&iss=https%3A%2F%2Fauth.example.com")!
        #expect(try PixyClient.code(from: good, state: "s1", redirectURI: redirect, server: promised) == "abc")
        let otherIssuer = URL(string: "http://127.0.0.1:5000/callback?code=abc&state=s1&iss=https%3A%2F%2Fevil.example")!
        #expect(throws: PixyClientError.self) {
            try PixyClient.code(from: otherIssuer, state: "s1", redirectURI: redirect, server: promised)
        }
        let noIss = URL(string: "http://127.0.0.1:5000/callback?code=abc&state=s1")!
        #expect(throws: PixyClientError.self) { try PixyClient.code(from: noIss, state: "s1", redirectURI: redirect, server: promised) }
        #expect(
            try PixyClient.code(from: noIss, state: "s1", redirectURI: redirect, server: Self.server(issParameterSupported: false)) == "abc"
        )
        #expect(throws: PixyClientError.self) { try PixyClient.code(from: good, state: "s2", redirectURI: redirect, server: promised) }
        let elsewhere = URL(string: "http://127.0.0.1:5001/callback?code=abc&state=s1&iss=https%3A%2F%2Fauth.example.com")!
        #expect(throws: PixyClientError.self) { try PixyClient.code(from: elsewhere, state: "s1", redirectURI: redirect, server: promised) }
        let denied = URL(string: "http://127.0.0.1:5000/callback?error=access_denied&state=s1&iss=https%3A%2F%2Fauth.example.com")!
        #expect(throws: PixyClientError.authorization("access_denied")) {
            try PixyClient.code(from: denied, state: "s1", redirectURI: redirect, server: promised)
        }
    }

    @Test("Token file: written with mode 0600 in a 0700 directory, read back, and refused once others can read it")
    func tokenFilePermissions() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-client-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = TokenFile(url: directory.appendingPathComponent("tokens.json"))
        let session = StoredSession(
            issuer: "https://auth.example.com", clientID: "c1", accessToken: "at", refreshToken: "rt",
            expiresAt: Date(timeIntervalSince1970: 1_800_000_000), scope: "read")
        try await file.setSession(session, for: "https://mcp.example.com/mcp")
        let attributes = try FileManager.default.attributesOfItem(atPath: file.url.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: directory.path)
        #expect((directoryAttributes[.posixPermissions] as? NSNumber)?.intValue == 0o700)
        #expect(try await file.session(for: "https://mcp.example.com/mcp") == session)
        chmod(file.url.path, 0o644)
        await #expect(throws: PixyClientError.self) { try await file.session(for: "https://mcp.example.com/mcp") }
    }

    @Test("RFC 8252 §7.3: the loopback listener takes only its callback path with the state it waits for")
    func listenerTakesOnlyItsResponse() async throws {
        let listener = try await LoopbackRedirectListener.start()
        defer { listener.close() }
        #expect(listener.redirectURI.host == "127.0.0.1")
        #expect(listener.redirectURI.port != nil)
        let pending = listener.expectResponse(state: "right")
        let http = AsyncHTTPClientHTTP.shared
        let base = listener.redirectURI.absoluteString
        let favicon = try await http.get(URL(string: base.replacingOccurrences(of: "/callback", with: "/favicon.ico"))!)
        #expect(favicon.status == 404)
        let wrongState = try await http.get(URL(string: base + "?code=forged&state=wrong")!)
        #expect(wrongState.status == 404)
        let right = try await http.get(URL(string: base + "?code=real&state=right")!)
        #expect(right.status == 200)
        #expect(right.header("Cache-Control") == "no-store")
        let url = try await pending.url
        #expect(url.query?.contains("code=real") == true)
        #expect(url.port == listener.redirectURI.port, "the URL the browser came to, port included")
        let again = try await http.get(URL(string: base + "?code=replayed&state=right")!)
        #expect(again.status == 404, "a state is taken once")
    }
}

@Suite("PixyClient transport security")
struct SecureTransportTests {
    @Test("OAuth 2.1 §1.5: https anywhere, http only on loopback")
    func httpsOrLoopback() {
        for allowed in [
            "https://auth.example.com/token", "http://127.0.0.1:8080/token", "http://127.0.0.2/x", "http://localhost:1/x",
            "http://[::1]:8/x",
        ] {
            #expect(SecureTransport.allows(URL(string: allowed)!), "\(allowed)")
        }
        for refused in ["http://auth.example.com/token", "http://127.0.0.1.evil.example/x", "ftp://127.0.0.1/x", "http://10.0.0.1/x"] {
            #expect(!SecureTransport.allows(URL(string: refused)!), "\(refused)")
        }
    }
}
