import Foundation
import Hummingbird
import NIOCore
import HummingbirdTesting
import HTTPTypes
import PixyCore
import PixyTesting
import Testing

/// A minimal browser for router tests: one cookie jar, no redirects followed, form helpers that
/// read the documented form contract (csrf_token, username, password, decision).
final class Browser: @unchecked Sendable {
    var cookie: String?

    func get(_ client: some TestClientProtocol, _ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        if let cookie { headers[.cookie] = "pixy_session=\(cookie)" }
        let response = try await client.execute(uri: uri, method: .get, headers: headers)
        remember(response)
        return response
    }

    func post(_ client: some TestClientProtocol, _ uri: String, form: [(String, String)]) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie { headers[.cookie] = "pixy_session=\(cookie)" }
        let response = try await client.execute(
            uri: uri, method: .post, headers: headers,
            body: ByteBuffer(string: FormParameters.encode(form)))
        remember(response)
        return response
    }

    private func remember(_ response: TestResponse) {
        guard let header = response.headers[.setCookie], header.hasPrefix("pixy_session=") else { return }
        cookie = String(header.dropFirst("pixy_session=".count).prefix { $0 != ";" })
    }

    /// `GET /authorize` and the login page it redirects to.
    func openLoginPage(_ client: some TestClientProtocol, query: String) async throws -> TestResponse {
        let start = try await get(client, "/authorize?\(query)")
        guard let location = start.headers[.location], location.contains("/login") else {
            throw TestFailure("expected a redirect to the login page, got \(start.status)")
        }
        return try await get(client, location)
    }

    /// Submits the login form on `page` with the seeded user's name and `password`.
    func logIn(_ client: some TestClientProtocol, on page: TestResponse, password: String = TestHarness.password) async throws
        -> TestResponse
    {
        try await post(
            client, try page.formAction(),
            form: [
                ("username", TestHarness.username), ("password", password), ("csrf_token", try page.csrfToken()),
            ])
    }

    /// `GET /authorize`, log in, and open the consent page.
    func openConsentPage(_ client: some TestClientProtocol, query: String) async throws -> TestResponse {
        let afterLogin = try await logIn(client, on: try await openLoginPage(client, query: query))
        guard let location = afterLogin.headers[.location], location.contains("/consent") else {
            throw TestFailure("expected a redirect to the consent page")
        }
        return try await get(client, location)
    }

    /// Drives /authorize, the login page (with `password`) and, if shown, the consent page with
    /// `decision`. Returns the final response (the redirect to the client, or wherever it stopped).
    func authorize(
        _ client: some TestClientProtocol, query: String, password: String = TestHarness.password,
        decision: String = "approve"
    ) async throws -> TestResponse {
        var response = try await get(client, "/authorize?\(query)")
        guard response.status == .seeOther, var location = response.headers[.location] else { return response }
        if location.hasPrefix("/login") {
            response = try await logIn(client, on: try await get(client, location), password: password)
            guard let next = response.headers[.location], next.hasPrefix("/consent") else { return response }
            location = next
        }
        guard location.hasPrefix("/consent") else { return response }
        let page = try await get(client, location)
        return try await post(client, try page.formAction(), form: [("csrf_token", try page.csrfToken()), ("decision", decision)])
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func match(_ pattern: String) throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let text = self.text
        guard let found = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let range = Range(found.range(at: 1), in: text)
        else {
            throw TestFailure("pattern \(pattern) not found in page")
        }
        return String(text[range])
    }

    func csrfToken() throws -> String { try match(#"name="csrf_token" value="([^"]+)""#) }
    func formAction() throws -> String { try match(#"<form method="post" action="([^"]+)""#).replacingOccurrences(of: "&amp;", with: "&") }

    /// The query parameters of the Location header.
    var locationParameters: [String: String] {
        guard let location = headers[.location], let query = location.split(separator: "?", maxSplits: 1).last,
            let parameters = FormParameters(urlEncoded: String(query))
        else { return [:] }
        return Dictionary(parameters.pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}

/// POSTs a token request.
func tokenRequest(
    _ client: some TestClientProtocol, _ form: [(String, String)], authorization: String? = nil,
    contentType: String = "application/x-www-form-urlencoded"
) async throws -> TestResponse {
    var headers: HTTPFields = [.contentType: contentType]
    if let authorization { headers[.authorization] = authorization }
    return try await client.execute(uri: "/token", method: .post, headers: headers, body: ByteBuffer(string: FormParameters.encode(form)))
}

func json(_ response: TestResponse) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
}
