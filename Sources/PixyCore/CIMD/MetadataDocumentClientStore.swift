public import struct Foundation.Date
import Synchronization

/// A fetched metadata document: its bytes and its `Cache-Control`.
public struct FetchedDocument: Sendable {
    /// The body (already size-capped by the fetcher).
    public var body: [UInt8]
    /// The `Cache-Control` header, if any.
    public var cacheControl: String?

    /// Creates a fetched document.
    public init(body: [UInt8], cacheControl: String?) {
        self.body = body
        self.cacheControl = cacheControl
    }
}

/// Fetches metadata documents. The network implementation (PixyCIMD) enforces https, no
/// redirects, timeouts, the size cap and the SSRF guard.
public protocol ClientMetadataFetching: Sendable {
    /// The document at `url`.
    func fetchDocument(at url: String) async throws -> FetchedDocument
}

/// A client store that resolves metadata-document client ids by fetching (with a cache) and
/// hands every other id to the underlying store. The OAuth core sees one `ClientStore` and needs
/// no knowledge of where a client came from.
public final class MetadataDocumentClientStore: ClientStore {
    private struct Entry: Sendable {
        var client: Client?
        var expiresAt: Date
    }

    private let base: any ClientStore
    private let fetcher: any ClientMetadataFetching
    private let policy: ServerPolicy
    private let clock: any WallClock
    private let cache = Mutex<[String: Entry]>([:])
    /// How long a failed fetch or a refused document is remembered (so a bad client cannot make
    /// Pixy fetch on every request).
    public static let failureLifetime: Duration = .seconds(30)
    /// Cached documents at most.
    public static let maximumCachedDocuments = 10_000

    /// Wraps `base`.
    public init(base: any ClientStore, fetcher: any ClientMetadataFetching, policy: ServerPolicy, clock: any WallClock) {
        self.base = base
        self.fetcher = fetcher
        self.policy = policy
        self.clock = clock
    }

    public func client(withID clientID: ClientID) async throws -> Client? {
        guard ClientIDMetadataDocument.isDocumentURL(clientID.rawValue) else { return try await base.client(withID: clientID) }
        let url = clientID.rawValue
        let now = clock.now()
        if let entry = cache.withLock({ $0[url] }), entry.expiresAt > now { return entry.client }
        var resolved: Client?
        var lifetime = Self.failureLifetime
        if let fetched = try? await fetcher.fetchDocument(at: url),
           let client = try? ClientIDMetadataDocument.client(from: fetched.body, fetchedFrom: url, policy: policy, now: now) {
            resolved = client
            lifetime = ClientIDMetadataDocument.cacheLifetime(cacheControl: fetched.cacheControl)
        }
        let entry = Entry(client: resolved, expiresAt: now.addingTimeInterval(lifetime.timeInterval))
        cache.withLock { cache in
            if cache.count >= Self.maximumCachedDocuments { cache = cache.filter { $0.value.expiresAt > now } }
            if cache.count < Self.maximumCachedDocuments { cache[url] = entry }
        }
        return resolved
    }

    public func save(_ client: Client) async throws {
        guard !client.isMetadataDocument else { return }
        try await base.save(client)
    }

    public func removeClient(withID clientID: ClientID) async throws -> Bool { try await base.removeClient(withID: clientID) }
    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        guard !client.isMetadataDocument else { return false }
        return try await base.replaceIfPresent(client)
    }
    public func allClients() async throws -> [Client] { try await base.allClients() }
    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        try await base.client(withRegistrationFingerprint: fingerprint)
    }
}
