import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import PixyClient

/// A scripted server below the client's HTTP layer: metadata documents and a token endpoint,
/// with every request recorded.
final class ScriptedServer: ClientHTTP {
    let cimd: Bool
    let includesScope: Bool
    let requests = NIOLockedValueBox<[(method: String, url: URL, body: String)]>([])
    let tokenCount = NIOLockedValueBox(0)

    init(cimd: Bool, includesScope: Bool = true) {
        self.cimd = cimd
        self.includesScope = includesScope
    }

    func send(_ method: String, _ url: URL, headers: [(String, String)], body: [UInt8]?) async throws -> ClientHTTPResponse {
        requests.withLockedValue { $0.append((method, url, String(decoding: body ?? [], as: UTF8.self))) }
        func json(_ status: Int, _ object: [String: Any]) throws -> ClientHTTPResponse {
            ClientHTTPResponse(
                status: status, headers: [("Content-Type", "application/json")],
                body: Array(try JSONSerialization.data(withJSONObject: object)))
        }
        switch (method, url.path) {
        case ("GET", "/mcp"), ("POST", "/mcp"):
            return ClientHTTPResponse(status: 401, headers: [("WWW-Authenticate", #"Bearer scope="read""#)], body: [])
        case ("GET", "/.well-known/oauth-protected-resource/mcp"):
            return try json(200, ["resource": "https://mcp.example.com/mcp", "authorization_servers": ["https://auth.example.com"]])
        case ("GET", "/.well-known/oauth-authorization-server"):
            return try json(
                200,
                [
                    "issuer": "https://auth.example.com", "authorization_endpoint": "https://auth.example.com/authorize",
                    "token_endpoint": "https://auth.example.com/token", "registration_endpoint": "https://auth.example.com/register",
                    "code_challenge_methods_supported": ["S256"], "client_id_metadata_document_supported": cimd,
                    "authorization_response_iss_parameter_supported": true,
                ])
        case ("POST", "/register"):
            return try json(201, ["client_id": "dynamic-1"])
        case ("POST", "/token"):
            let issued = tokenCount.withLockedValue { count in
                count += 1
                return count
            }
            let refreshing = requests.withLockedValue { $0.last?.body.contains("grant_type=refresh_token") ?? false }
            var tokens: [String: Any] = [
                "access_token": refreshing ? "at-\(issued)" : "at-1", "token_type": "Bearer", "expires_in": 300,
                "refresh_token": "rt-\(issued)",
            ]
            if includesScope { tokens["scope"] = "read" }
            return try json(200, tokens)
        default:
            return ClientHTTPResponse(status: 404, headers: [], body: [])
        }
    }

    /// Answers an authorization URL as a server that approves at once.
    static func approve(_ url: URL, _ redirectURI: URL) -> URL {
        let state = URLComponents(url: url, resolvingAgainstBaseURL: false)!.queryItems!.first { $0.name == "state" }!.value!
        return URL(string: "\(redirectURI.absoluteString)?code=c1&state=\(state)&iss=https%3A%2F%2Fauth.example.com")!
    }
}

@Suite("PixyClient registration")
struct PixyClientRegistrationTests {
    static let document = URL(string: "https://app.example.com/client.json")!

    func signIn(cimd: Bool, authorizations: NIOLockedValueBox<[URL]>) async throws -> ScriptedServer {
        let server = ScriptedServer(cimd: cimd)
        let agent = UserAgent.automatic { url, redirectURI in
            authorizations.withLockedValue { $0.append(url) }
            return ScriptedServer.approve(url, redirectURI)
        }
        let client = PixyClient(
            configuration: .init(registration: .init(metadataDocument: Self.document), userAgent: agent, http: server))
        #expect(try await client.accessToken(for: URL(string: "https://mcp.example.com/mcp")!) == "at-1")
        await client.close()
        return server
    }

    @Test("Client ID Metadata Document: its URL is the client_id where the server supports them, with no registration request")
    func metadataDocument() async throws {
        let authorizations = NIOLockedValueBox<[URL]>([])
        let server = try await signIn(cimd: true, authorizations: authorizations)
        let query = URLComponents(url: try #require(authorizations.withLockedValue { $0.first }), resolvingAgainstBaseURL: false)!
        #expect(query.queryItems?.first { $0.name == "client_id" }?.value == Self.document.absoluteString)
        #expect(query.queryItems?.first { $0.name == "resource" }?.value == "https://mcp.example.com/mcp", "RFC 8707 §2.1")
        #expect(query.queryItems?.first { $0.name == "code_challenge_method" }?.value == "S256")
        let requests = server.requests.withLockedValue { $0 }
        #expect(!requests.contains { $0.url.path == "/register" })
        let token = try #require(requests.first { $0.url.path == "/token" })
        #expect(token.body.contains("client_id=https%3A%2F%2Fapp.example.com%2Fclient.json"))
        #expect(token.body.contains("resource=https%3A%2F%2Fmcp.example.com%2Fmcp"), "RFC 8707 §2.2")
        #expect(token.body.contains("code_verifier="))
    }

    @Test("RFC 7591: without metadata-document support the client registers dynamically, once per issuer")
    func dynamicRegistrationFallback() async throws {
        let authorizations = NIOLockedValueBox<[URL]>([])
        let server = try await signIn(cimd: false, authorizations: authorizations)
        let query = URLComponents(url: try #require(authorizations.withLockedValue { $0.first }), resolvingAgainstBaseURL: false)!
        #expect(query.queryItems?.first { $0.name == "client_id" }?.value == "dynamic-1")
        #expect(server.requests.withLockedValue { $0 }.filter { $0.url.path == "/register" }.count == 1)
    }
}

/// A server whose authorization endpoint sends the user agent to another origin.
final class RedirectingElsewhere: ClientHTTP {
    let hosts = NIOLockedValueBox<[String]>([])
    let formAction: String?

    init(formAction: String?) { self.formAction = formAction }

    func send(_ method: String, _ url: URL, headers: [(String, String)], body: [UInt8]?) async throws -> ClientHTTPResponse {
        hosts.withLockedValue { $0.append(url.host ?? "") }
        if let formAction {
            let page =
                #"<form method="post" action="\#(formAction)"><input type="hidden" name="csrf_token" value="t"><input name="password"></form>"#
            return ClientHTTPResponse(status: 200, headers: [("Set-Cookie", "session=s1; HttpOnly")], body: Array(page.utf8))
        }
        return ClientHTTPResponse(status: 303, headers: [("Location", "https://evil.example/login")], body: [])
    }
}

@Suite("PixyFormSignIn")
struct PixyFormSignInTests {
    @Test("The session cookie and the password go only to the authorization endpoint's origin")
    func staysOnOrigin() async throws {
        let redirect = URL(string: "http://127.0.0.1:5000/callback")!
        for server in [RedirectingElsewhere(formAction: nil), RedirectingElsewhere(formAction: "https://evil.example/steal")] {
            let agent = PixyFormSignIn(username: "alice", password: "secret", http: server)
            let outcome = try await agent.follow(URL(string: "https://auth.example.com/authorize?x=1")!, until: redirect)
            guard case .page = outcome else {
                Issue.record("expected to stop on a page")
                continue
            }
            #expect(server.hosts.withLockedValue { $0 } == ["auth.example.com"])
        }
    }
}

@Suite("PixyClient sessions")
struct PixyClientSessionTests {
    @Test("RFC 6749 §5.1: a token response without scope granted what was asked, so the next call reuses the token")
    func omittedScope() async throws {
        let server = ScriptedServer(cimd: true, includesScope: false)
        let authorizations = NIOLockedValueBox(0)
        let agent = UserAgent.automatic { url, redirectURI in
            authorizations.withLockedValue { $0 += 1 }
            return ScriptedServer.approve(url, redirectURI)
        }
        let client = PixyClient(
            configuration: .init(registration: .init(clientID: "pre-registered"), userAgent: agent, http: server))
        let resource = URL(string: "https://mcp.example.com/mcp")!
        _ = try await client.accessToken(for: resource)
        _ = try await client.accessToken(for: resource)
        _ = try await client.accessToken(for: resource, scopes: ["read"])
        #expect(authorizations.withLockedValue { $0 } == 1)
        await client.close()
    }

    @Test("Tokens kept for another issuer are never sent to this one: no refresh, a new sign-in")
    func otherIssuersSession() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-client-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = TokenFile(url: directory.appendingPathComponent("tokens.json"))
        try await file.setSession(
            StoredSession(
                issuer: "https://old-issuer.example", clientID: "c", accessToken: "old-access", refreshToken: "old-refresh",
                expiresAt: Date(timeIntervalSince1970: 0), scope: "read"),
            for: "https://mcp.example.com/mcp")
        let server = ScriptedServer(cimd: true)
        let client = PixyClient(
            configuration: .init(
                registration: .init(clientID: "pre-registered"), userAgent: .automatic { ScriptedServer.approve($0, $1) }, tokenFile: file,
                http: server))
        let resource = URL(string: "https://mcp.example.com/mcp")!
        #expect(try await client.accessToken(for: resource) == "at-1")
        #expect(try await client.accessToken(for: resource, after: 401, challenge: nil) != "old-access")
        let bodies = server.requests.withLockedValue { $0 }.map(\.body)
        #expect(!bodies.contains { $0.contains("old-refresh") || $0.contains("old-access") })
        await client.close()
    }

    @Test("Token file: a symbolic link or a directory others can write to is refused")
    func tokenFileRefusesLinksAndOpenDirectories() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-client-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let target = directory.appendingPathComponent("elsewhere.json")
        try Data("{}".utf8).write(to: target)
        chmod(target.path, 0o600)
        let link = directory.appendingPathComponent("tokens.json")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        await #expect(throws: PixyClientError.self) { try await TokenFile(url: link).session(for: "x") }

        let open = directory.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: true)
        chmod(open.path, 0o777)
        await #expect(throws: PixyClientError.self) {
            try await TokenFile(url: open.appendingPathComponent("tokens.json")).setClient(
                StoredClient(clientID: "c", redirectURI: "r"), for: "i")
        }
    }
}

@Suite("PixyClient refresh")
struct PixyClientRefreshTests {
    @Test("RFC 9700 §4.14.2: concurrent 401s share one refresh, and a refresh token is never presented twice")
    func oneRefreshForConcurrentChallenges() async throws {
        let server = ScriptedServer(cimd: true)
        let client = PixyClient(
            configuration: .init(
                registration: .init(clientID: "pre-registered"), userAgent: .automatic { ScriptedServer.approve($0, $1) }, http: server))
        let resource = URL(string: "https://mcp.example.com/mcp")!
        #expect(try await client.accessToken(for: resource) == "at-1")
        async let first = client.accessToken(for: resource, after: 401, challenge: nil)
        async let second = client.accessToken(for: resource, after: 401, challenge: nil)
        let answers = try await [first, second]
        let refreshes = server.requests.withLockedValue { $0 }.filter { $0.body.contains("grant_type=refresh_token") }
        #expect(refreshes.count == 1)
        #expect(answers == ["at-2", "at-2"])
        // Another 401: the rotated token is presented, never the first one again.
        _ = try await client.accessToken(for: resource, after: 401, challenge: nil)
        let presented = server.requests.withLockedValue { $0 }.filter { $0.body.contains("grant_type=refresh_token") }.map(\.body)
        #expect(presented.count == 2)
        #expect(presented[0].contains("refresh_token=rt-1") && presented[1].contains("refresh_token=rt-2"))
        await client.close()
    }
}
