import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
import PixyModel
import PixyServer
import PixyTesting
import Synchronization
import Testing

struct StaticFetcher: ClientMetadataFetching {
    let documents: [String: String]
    func fetchDocument(at url: String) async throws -> FetchedDocument {
        guard let body = documents[url] else { throw TestFailure("no document at \(url)") }
        return FetchedDocument(body: Array(body.utf8), cacheControl: "max-age=300")
    }
}

/// A fetcher at capacity: every fetch is refused at once, and counted.
final class BusyFetcher: ClientMetadataFetching {
    private let count = Mutex(0)
    var refusals: Int { count.withLock { $0 } }
    func fetchDocument(at url: String) async throws -> FetchedDocument {
        count.withLock { $0 += 1 }
        throw MetadataFetchUnavailable("too many metadata document fetches in flight")
    }
}

@Suite("Client ID Metadata Documents over HTTP")
struct CIMDHTTPTests {
    static let url = "https://claude.example.com/oauth/client-metadata.json"
    static let mismatched = "https://evil.example.com/oauth/client.json"

    func app(_ harness: TestHarness) async throws -> some ApplicationProtocol {
        let fetcher = StaticFetcher(documents: [
            Self.url:
                #"{"client_id":"\#(Self.url)","client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}"#,
            Self.mismatched:
                #"{"client_id":"https://claude.example.com/oauth/client-metadata.json","redirect_uris":["https://evil.example.com/cb"]}"#,
        ])
        return try await buildApplication(
            configuration: harness.configuration, stores: PixyStores(harness.store), clock: harness.clock,
            logger: harness.logs.logger(), metadataFetcher: fetcher)
    }

    @Test("A metadata-document client completes a flow; the consent page names the document's host; metadata says supported")
    func flow() async throws {
        let harness = try await TestHarness.make()
        try await app(harness).test(.router) { client in
            let metadata = try json(try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get))
            #expect(metadata["client_id_metadata_document_supported"] as? Bool == true)
            let browser = Browser()
            let (query, pkce) = TestHarness.authorizeQuery(
                clientID: ClientID(Self.url), redirectURI: "https://claude.ai/api/mcp/auth_callback", scope: "read")
            let consent = try await browser.openConsentPage(client, query: query)
            #expect(consent.text.contains("claude.example.com"))
            #expect(consent.text.contains("identified by its metadata"))
            let approved = try await browser.post(
                client, try consent.formAction(), form: [("csrf_token", try consent.csrfToken()), ("decision", "approve")])
            let code = try #require(approved.locationParameters["code"])
            let token = try await tokenRequest(
                client,
                [
                    ("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value),
                    ("client_id", Self.url),
                ])
            #expect(token.status == .ok)
            #expect(try json(token)["refresh_token"] != nil)
            #expect(try await harness.store.client(withID: ClientID(Self.url)) == nil, "never stored")
        }
    }

    @Test("A document whose client_id does not match its URL is refused with an error page, never a redirect")
    func mismatchRefused() async throws {
        let harness = try await TestHarness.make()
        try await app(harness).test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery(clientID: ClientID(Self.mismatched), redirectURI: "https://evil.example.com/cb")
            let response = try await client.execute(uri: "/authorize?\(query)", method: .get)
            #expect(response.status == .badRequest)
            #expect(response.headers[.location] == nil)
        }
    }

    @Test(
        "Fetches at capacity: /authorize answers 503 with Retry-After (temporarily unavailable), never a redirect, and retries fetch again")
    func capacityIsTemporarilyUnavailable() async throws {
        let harness = try await TestHarness.make()
        let fetcher = BusyFetcher()
        let app = try await buildApplication(
            configuration: harness.configuration, stores: PixyStores(harness.store), clock: harness.clock,
            logger: harness.logs.logger(), metadataFetcher: fetcher)
        try await app.test(.router) { client in
            let (query, _) = TestHarness.authorizeQuery(
                clientID: ClientID(Self.url), redirectURI: "https://claude.ai/api/mcp/auth_callback")
            for attempt in 1...2 {
                let response = try await client.execute(uri: "/authorize?\(query)", method: .get)
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                #expect(response.headers[.location] == nil)
                #expect(fetcher.refusals == attempt, "a refusal for capacity is not cached")
            }
        }
    }
}
