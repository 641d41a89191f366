import Foundation
import Hummingbird
import HummingbirdTesting
import PixyModel
import PixyServer
import PixyTesting
import Testing

@testable import PixyClient

/// Sends the client's requests for the harness issuer (127.0.0.1:8080) to the port the
/// in-process server really listens on, so that every identifier stays as configured.
struct PortMappedHTTP: ClientHTTP {
    let port: Int
    func send(_ method: String, _ url: URL, headers: [(String, String)], body: [UInt8]?) async throws -> ClientHTTPResponse {
        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)!
        if components.host == "127.0.0.1", components.port == 8080 { components.port = port }
        var response = try await AsyncHTTPClientHTTP.shared.send(method, components.url!, headers: headers, body: body)
        response.headers = response.headers.map { header in
            (header.name, header.value.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:8080"))
        }
        return response
    }
}

@Suite("PixyClient against Pixy in process")
struct PixyClientLiveTests {
    @Test(
        "RFC 8414 + RFC 7591 + RFC 7636 + RFC 6749 §6: discovery, registration, S256 sign-in, refresh with rotation, tokens kept in the file"
    )
    func signInAndRefresh() async throws {
        let harness = try await TestHarness.make()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pixy-client-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = harness.clock
        try await harness.application().test(.live) { client in
            let http = PortMappedHTTP(port: try #require(client.port))
            let issuer = URL(string: TestHarness.defaultIssuer)!
            let file = TokenFile(url: directory.appendingPathComponent("tokens.json"))
            func makeClient() -> PixyClient {
                PixyClient(
                    configuration: .init(
                        clientName: "Client test",
                        userAgent: PixyFormSignIn(username: TestHarness.username, password: TestHarness.password, http: http).userAgent,
                        tokenFile: file, http: http, now: { clock.now() }))
            }
            let oauth = makeClient()
            let first = try await oauth.accessToken(for: issuer, scopes: ["read"])
            #expect(first.split(separator: ".").count == 3, "an RFC 9068 JWT")
            let kept = try #require(try await file.session(for: TestHarness.defaultIssuer))
            #expect(kept.accessToken == first)
            #expect(kept.scopes == ["read"])
            let registered = try #require(try await file.client(for: TestHarness.defaultIssuer))
            #expect(kept.clientID == registered.clientID)
            let firstRefresh = try #require(kept.refreshToken)

            // The same token while it lasts, from a new process (the file).
            let again = makeClient()
            #expect(try await again.accessToken(for: issuer, scopes: ["read"]) == first)

            // Past its lifetime the client refreshes; the refresh token rotates.
            clock.advance(by: .seconds(3_600))
            let refreshed = try await again.accessToken(for: issuer, scopes: ["read"])
            #expect(refreshed != first)
            let rotated = try #require(try await file.session(for: TestHarness.defaultIssuer))
            #expect(rotated.refreshToken != nil && rotated.refreshToken != firstRefresh)
            #expect(try await file.client(for: TestHarness.defaultIssuer) == registered, "the registration is reused")

            // More scope than held: a new sign-in for the union (step-up).
            let wider = try await again.accessToken(
                for: issuer, after: 403, challenge: BearerChallenge(header: #"Bearer error="insufficient_scope", scope="write""#))
            #expect(wider != refreshed)
            #expect(try await file.session(for: TestHarness.defaultIssuer)?.scopes == ["read", "write"])
            await oauth.close()
            await again.close()
        }
    }

    @Test("RFC 9207 §2.4: a sign-in whose response names another issuer gets no tokens")
    func mixUpRefused() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.live) { client in
            let http = PortMappedHTTP(port: try #require(client.port))
            let form = PixyFormSignIn(username: TestHarness.username, password: TestHarness.password, http: http)
            // A mix-up: the response arrives as if from another issuer.
            let agent = UserAgent.automatic { url, redirectURI in
                guard case .redirect(let response) = try await form.follow(url, until: redirectURI) else {
                    throw PixyClientError.authorization("no redirect")
                }
                return URL(string: response.absoluteString.replacingOccurrences(of: "127.0.0.1%3A8080", with: "evil.example"))!
            }
            let oauth = PixyClient(configuration: .init(userAgent: agent, http: http))
            await #expect(throws: PixyClientError.self) {
                try await oauth.accessToken(for: URL(string: TestHarness.defaultIssuer)!, scopes: ["read"])
            }
            await oauth.close()
        }
    }
}
