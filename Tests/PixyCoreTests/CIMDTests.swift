import Foundation
import PixyCore
import PixyModel
import PixyTesting
import Testing

/// Serves documents from memory and counts fetches.
final class FakeFetcher: ClientMetadataFetching, @unchecked Sendable {
    private let lock = NSLock()
    var documents: [String: FetchedDocument] = [:]
    private(set) var fetches = 0
    func fetchDocument(at url: String) async throws -> FetchedDocument {
        try lock.withLock {
            fetches += 1
            guard let document = documents[url] else { throw URLError(.fileDoesNotExist) }
            return document
        }
    }
}

let documentURL = "https://mcp-client.example.com/oauth/client.json"

func document(clientID: String = documentURL, extra: String = "") -> FetchedDocument {
    FetchedDocument(body: Array(#"{"client_id":"\#(clientID)","client_name":"Example MCP","redirect_uris":["http://127.0.0.1/callback","https://mcp-client.example.com/cb"],"grant_types":["authorization_code","refresh_token"]\#(extra)}"#.utf8),
                    cacheControl: "max-age=600")
}

@Suite("Client ID Metadata Documents (issue 3 §8)")
struct CIMDTests {
    let policy = ServerPolicy(issuer: "https://auth.example.com")

    @Test("Document URLs: https, host, a real path, no fragment, userinfo or dot segments", arguments: [
        (documentURL, true), ("https://example.com/c", true), ("https://example.com/", false), ("https://example.com", false),
        ("http://example.com/client.json", false), ("https://user@example.com/c.json", false), ("https://example.com/c.json#x", false),
        ("https://example.com/a/../c.json", false), ("https://example.com/./c.json", false), ("https://exa mple.com/c", false), ("app", false),
        ("https://:443/c.json", false), ("https://[::1/c.json", false), ("https://[::1]:8443/c.json", true),
    ])
    func documentURLShape(url: String, isDocument: Bool) {
        #expect(ClientIDMetadataDocument.isDocumentURL(url) == isDocument)
    }

    @Test("A document must name the exact URL it was fetched from")
    func clientIDMustMatch() throws {
        let client = try ClientIDMetadataDocument.client(from: document().body, fetchedFrom: documentURL, policy: policy, now: Date())
        #expect(client.clientID.rawValue == documentURL)
        #expect(client.isPublic && client.isMetadataDocument && client.isDynamicallyRegistered && !client.maySkipConsent)
        #expect(client.grantTypes == [.authorizationCode, .refreshToken])
        for other in ["https://mcp-client.example.com/oauth/client.json/", "https://MCP-client.example.com/oauth/client.json", "https://evil.example/c.json"] {
            #expect(throws: OAuthError(.invalidClientMetadata, "")) {
                try ClientIDMetadataDocument.client(from: document(clientID: other).body, fetchedFrom: documentURL, policy: policy, now: Date())
            }
        }
    }

    @Test("Documents are validated like registrations; shared secrets are refused, private_key_jwt becomes none")
    func documentValidation() throws {
        for extra in [#","token_endpoint_auth_method":"client_secret_basic""#, #","response_types":["token"]"#] {
            #expect(throws: OAuthError.self) {
                try ClientIDMetadataDocument.client(from: document(extra: extra).body, fetchedFrom: documentURL, policy: policy, now: Date())
            }
        }
        let badRedirect = FetchedDocument(body: Array(#"{"client_id":"\#(documentURL)","redirect_uris":["javascript:alert(1)"]}"#.utf8), cacheControl: nil)
        #expect(throws: OAuthError(.invalidRedirectURI, "")) {
            try ClientIDMetadataDocument.client(from: badRedirect.body, fetchedFrom: documentURL, policy: policy, now: Date())
        }
        let chatGPTStyle = try ClientIDMetadataDocument.client(
            from: document(extra: #","token_endpoint_auth_method":"private_key_jwt""#).body, fetchedFrom: documentURL, policy: policy, now: Date())
        #expect(chatGPTStyle.isPublic)
        #expect(throws: OAuthError.self) { try ClientIDMetadataDocument.client(from: Array("[1]".utf8), fetchedFrom: documentURL, policy: policy, now: Date()) }
    }

    @Test("Caching follows Cache-Control within 1 minute and 24 hours", arguments: [
        (nil, 300), ("max-age=600", 600), ("max-age=5", 60), ("max-age=999999", 86400), ("no-store", 60), ("public, max-age=120", 120),
    ] as [(String?, Int)])
    func cacheLifetime(header: String?, seconds: Int) {
        #expect(ClientIDMetadataDocument.cacheLifetime(cacheControl: header) == .seconds(seconds))
    }

    @Test("SSRF guard: private, loopback, link-local and reserved addresses are not public", arguments: [
        ("93.184.216.34", true), ("127.0.0.1", false), ("10.1.2.3", false), ("172.16.0.1", false), ("172.32.0.1", true),
        ("192.168.1.1", false), ("169.254.169.254", false), ("100.64.0.1", false), ("0.0.0.0", false), ("224.0.0.1", false),
        ("::1", false), ("::", false), ("fe80::1", false), ("fd00::1", false), ("::ffff:127.0.0.1", false), ("2606:4700::1111", true),
        ("ff02::1", false), ("not-an-ip", false),
    ])
    func addressPolicy(address: String, isPublic: Bool) {
        #expect(FetchAddressPolicy.isPublic(address) == isPublic)
    }

    @Test("The store fetches once per cache lifetime, remembers failures briefly, and leaves other ids to the base store")
    func resolvingStore() async throws {
        let clock = ManualClock()
        let base = InMemoryStore(clock: clock)
        try await base.save(Client(clientID: "plain", redirectURIs: ["https://a.example/cb"], createdAt: clock.now()))
        let fetcher = FakeFetcher()
        fetcher.documents[documentURL] = document()
        let store = MetadataDocumentClientStore(base: base, fetcher: fetcher, policy: policy, clock: clock)
        #expect(try await store.client(withID: ClientID(documentURL))?.clientName == "Example MCP")
        #expect(try await store.client(withID: ClientID(documentURL)) != nil)
        #expect(fetcher.fetches == 1)
        clock.advance(by: .seconds(601))
        _ = try await store.client(withID: ClientID(documentURL))
        #expect(fetcher.fetches == 2)

        let missing = "https://gone.example.com/client.json"
        #expect(try await store.client(withID: ClientID(missing)) == nil)
        #expect(try await store.client(withID: ClientID(missing)) == nil)
        #expect(fetcher.fetches == 3, "a failure is remembered for a while")

        #expect(try await store.client(withID: "plain") != nil)
        #expect(fetcher.fetches == 3)
        try await store.save(try #require(try await store.client(withID: ClientID(documentURL))))
        #expect(try await base.client(withID: ClientID(documentURL)) == nil, "metadata clients are never stored")
    }
}
