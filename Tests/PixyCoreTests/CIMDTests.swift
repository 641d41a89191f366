import Foundation
@testable import PixyCore
import PixyModel
import PixyTesting
import Synchronization
import Testing

/// Serves documents from memory and counts fetches.
final class FakeFetcher: ClientMetadataFetching, @unchecked Sendable {
    private let lock = NSLock()
    var documents: [String: FetchedDocument] = [:]
    /// Refuse as a fetcher at capacity does.
    var refusesForCapacity = false
    private(set) var fetches = 0
    func fetchDocument(at url: String) async throws -> FetchedDocument {
        try lock.withLock {
            fetches += 1
            if refusesForCapacity { throw MetadataFetchUnavailable("at capacity") }
            guard let document = documents[url] else { throw URLError(.fileDoesNotExist) }
            return document
        }
    }
}

/// Serves one document, but only once the test opens the gate; counts fetches.
final class GatedFetcher: ClientMetadataFetching {
    private let state = Mutex<(open: Bool, fetches: Int, waiting: [CheckedContinuation<Void, Never>])>((false, 0, []))
    let document: FetchedDocument
    init(_ document: FetchedDocument) { self.document = document }
    var fetches: Int { state.withLock { $0.fetches } }
    func fetchDocument(at url: String) async throws -> FetchedDocument {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                state.fetches += 1
                if !state.open { state.waiting.append(continuation) }
                return state.open
            }
            if now { continuation.resume() }
        }
        return document
    }
    func open() {
        let waiting = state.withLock { state in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }
}

let documentURL = "https://mcp-client.example.com/oauth/client.json"

func document(clientID: String = documentURL, extra: String = "") -> FetchedDocument {
    FetchedDocument(
        body: Array(
            #"{"client_id":"\#(clientID)","client_name":"Example MCP","redirect_uris":["http://127.0.0.1/callback","https://mcp-client.example.com/cb"],"grant_types":["authorization_code","refresh_token"]\#(extra)}"#
                .utf8),
        cacheControl: "max-age=600")
}

@Suite("Client ID Metadata Documents (docs/threat-model.md)")
struct CIMDTests {
    let policy = ServerPolicy(issuer: "https://auth.example.com")

    @Test(
        "Document URLs: https, host, a real path, no fragment, userinfo or dot segments",
        arguments: [
            (documentURL, true), ("https://example.com/c", true), ("https://example.com/", false), ("https://example.com", false),
            ("http://example.com/client.json", false), ("https://user@example.com/c.json", false), ("https://example.com/c.json#x", false),
            ("https://example.com/a/../c.json", false), ("https://example.com/./c.json", false), ("https://exa mple.com/c", false),
            ("app", false),
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
        for other in [
            "https://mcp-client.example.com/oauth/client.json/", "https://MCP-client.example.com/oauth/client.json",
            "https://evil.example/c.json",
        ] {
            #expect(throws: OAuthError(.invalidClientMetadata, "")) {
                try ClientIDMetadataDocument.client(
                    from: document(clientID: other).body, fetchedFrom: documentURL, policy: policy, now: Date())
            }
        }
    }

    @Test("Documents are validated like registrations; shared secrets are refused, private_key_jwt becomes none")
    func documentValidation() throws {
        for extra in [#","token_endpoint_auth_method":"client_secret_basic""#, #","response_types":["token"]"#] {
            #expect(throws: OAuthError.self) {
                try ClientIDMetadataDocument.client(
                    from: document(extra: extra).body, fetchedFrom: documentURL, policy: policy, now: Date())
            }
        }
        let badRedirect = FetchedDocument(
            body: Array(#"{"client_id":"\#(documentURL)","redirect_uris":["javascript:alert(1)"]}"#.utf8), cacheControl: nil)
        #expect(throws: OAuthError(.invalidRedirectURI, "")) {
            try ClientIDMetadataDocument.client(from: badRedirect.body, fetchedFrom: documentURL, policy: policy, now: Date())
        }
        let chatGPTStyle = try ClientIDMetadataDocument.client(
            from: document(extra: #","token_endpoint_auth_method":"private_key_jwt""#).body, fetchedFrom: documentURL, policy: policy,
            now: Date())
        #expect(chatGPTStyle.isPublic)
        #expect(throws: OAuthError.self) {
            try ClientIDMetadataDocument.client(from: Array("[1]".utf8), fetchedFrom: documentURL, policy: policy, now: Date())
        }
    }

    @Test(
        "Caching follows Cache-Control within 1 minute and 24 hours",
        arguments: [
            (nil, 300), ("max-age=600", 600), ("max-age=5", 60), ("max-age=999999", 86400), ("no-store", 60), ("public, max-age=120", 120),
        ] as [(String?, Int)])
    func cacheLifetime(header: String?, seconds: Int) {
        #expect(ClientIDMetadataDocument.cacheLifetime(cacheControl: header) == .seconds(seconds))
    }

    @Test(
        "SSRF guard (RFC 6890 registries): private, loopback, link-local, documentation and reserved addresses are not public; embedded IPv4 is judged as IPv4",
        arguments: [
            // IPv4
            ("93.184.216.34", true), ("8.8.8.8", true), ("1.1.1.1", true), ("172.32.0.1", true), ("100.128.0.1", true),
            ("198.20.0.1", true),
            ("192.0.1.1", true), ("223.255.255.254", true), ("127.0.0.1", false), ("127.255.255.254", false), ("10.1.2.3", false),
            ("172.16.0.1", false), ("172.31.255.255", false), ("192.168.1.1", false), ("169.254.169.254", false), ("100.64.0.1", false),
            ("100.127.255.255", false), ("0.0.0.0", false), ("0.1.2.3", false), ("192.0.0.8", false), ("192.0.0.170", false),
            ("192.0.2.1", false), ("198.51.100.7", false), ("203.0.113.9", false), ("192.88.99.1", false), ("198.18.0.1", false),
            ("198.19.255.255", false), ("224.0.0.1", false), ("239.255.255.250", false), ("240.0.0.1", false), ("255.255.255.255", false),
            // Not addresses, or not in canonical form
            ("not-an-ip", false), ("", false), ("127.1", false), ("0x7f.0.0.1", false), ("1.2.3.4.5", false), ("fe80::1%eth0", false),
            // IPv6
            ("2606:4700::1111", true), ("2001:4860:4860::8888", true), ("2a00:1450:4001:80b::200e", true),
            ("::1", false), ("::", false), ("fe80::1", false), ("febf::1", false), ("fd00::1", false), ("fc00::1", false),
            ("fec0::1", false), ("feff::1", false), ("ff02::1", false), ("ff0e::1", false), ("100::1", false), ("100::ffff:1", false),
            ("2001:db8::1", false), ("2001:db8:ffff::1", false), ("3fff::1", false), ("2001::1", false), ("2001:2::1", false),
            ("2001:10::1", false), ("5f00::1", false), ("4000::1", false),
            // IPv4-mapped (RFC 4291 §2.5.5.2)
            ("::ffff:127.0.0.1", false), ("::ffff:7f00:1", false), ("::ffff:10.0.0.1", false), ("::ffff:169.254.169.254", false),
            ("::ffff:93.184.216.34", true),
            // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1): refused whatever it embeds
            ("::127.0.0.1", false), ("::10.0.0.1", false), ("::93.184.216.34", false),
            // NAT64 (RFC 6052, RFC 8215)
            ("64:ff9b::127.0.0.1", false), ("64:ff9b::a9fe:a9fe", false), ("64:ff9b::10.0.0.1", false), ("64:ff9b::93.184.216.34", true),
            ("64:ff9b:1::93.184.216.34", false), ("64:ff9b:1::1", false),
            // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD
            ("2002:7f00:1::1", false), ("2002:a9fe:a9fe::1", false), ("2002:c0a8:101::1", false), ("2002:5db8:d822::1", true),
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

    @Test("Single flight: concurrent lookups of one uncached URL cause exactly one fetch", .timeLimit(.minutes(1)))
    func singleFlight() async throws {
        let clock = ManualClock()
        let fetcher = GatedFetcher(document())
        let store = MetadataDocumentClientStore(base: InMemoryStore(clock: clock), fetcher: fetcher, policy: policy, clock: clock)
        let lookups = (0..<8).map { _ in Task { try await store.client(withID: ClientID(documentURL)) } }
        while store.lookupsWaiting < 8 { try await Task.sleep(for: .milliseconds(5)) }
        fetcher.open()
        for lookup in lookups { #expect(try await lookup.value?.clientName == "Example MCP") }
        #expect(fetcher.fetches == 1)
        #expect(store.lookupsWaiting == 0)
    }

    @Test("A fetch refused for capacity surfaces as StorageError.unavailable (503, temporarily_unavailable) and is not cached")
    func capacityRefusalIsUnavailableAndNotCached() async throws {
        let clock = ManualClock()
        let fetcher = FakeFetcher()
        fetcher.documents[documentURL] = document()
        fetcher.refusesForCapacity = true
        let store = MetadataDocumentClientStore(base: InMemoryStore(clock: clock), fetcher: fetcher, policy: policy, clock: clock)
        do {
            _ = try await store.client(withID: ClientID(documentURL))
            Issue.record("a refused fetch was answered")
        } catch let error as StorageError {
            #expect(error.isUnavailable)
        }
        fetcher.refusesForCapacity = false
        #expect(try await store.client(withID: ClientID(documentURL))?.clientName == "Example MCP", "the refusal was not cached")
        #expect(fetcher.fetches == 2)
    }
}
