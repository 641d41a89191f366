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
/// redirects, one deadline, the size cap, the in-flight cap and the SSRF guard
/// (docs/threat-model.md).
public protocol ClientMetadataFetching: Sendable {
    /// The document at `url`. Throws ``MetadataFetchUnavailable`` when the fetch was refused for
    /// lack of capacity rather than because of the document or its host.
    func fetchDocument(at url: String) async throws -> FetchedDocument
}

/// A fetch refused because too many are already in flight (docs/threat-model.md, "a flood of
/// metadata-document `client_id`s"). Not the document's fault: it is not cached, and the OAuth layer answers
/// `temporarily_unavailable` / 503 so the client retries.
public struct MetadataFetchUnavailable: Error, Sendable, CustomStringConvertible {
    /// Why, for logs.
    public let description: String

    /// Creates the error.
    public init(_ description: String) {
        self.description = description
    }
}

/// A client store that resolves metadata-document client ids by fetching (with a cache) and
/// hands every other id to the underlying store. The OAuth core sees one `ClientStore` and needs
/// no knowledge of where a client came from.
///
/// Concurrent lookups of one uncached URL share one fetch (single flight). A fetch the fetcher
/// refused for capacity (``MetadataFetchUnavailable``) is not cached and surfaces as
/// `StorageError.unavailable`, which the endpoints answer with 503 / `temporarily_unavailable`.
public final class MetadataDocumentClientStore: ClientStore {
    private struct Entry: Sendable {
        var client: Client?
        var expiresAt: Date
    }

    /// What one shared fetch produced.
    private enum Outcome: Sendable {
        case resolved(Client?)
        case unavailable(String)
    }

    private struct State {
        var cache: [String: Entry] = [:]
        var inFlight: [String: Task<Outcome, Never>] = [:]
        var waiting = 0
    }

    private let base: any ClientStore
    private let fetcher: any ClientMetadataFetching
    private let policy: ServerPolicy
    private let clock: any WallClock
    private let telemetry: Telemetry
    private let state = Mutex(State())
    /// How long a failed fetch or a refused document is remembered (so a bad client cannot make
    /// Pixy fetch on every request).
    public static let failureLifetime: Duration = .seconds(30)
    /// Cached documents at most.
    public static let maximumCachedDocuments = 10_000

    /// Wraps `base`; `telemetry` counts lookups by outcome (`pixy_cimd_fetches_total`).
    public init(
        base: any ClientStore, fetcher: any ClientMetadataFetching, policy: ServerPolicy, clock: any WallClock,
        telemetry: Telemetry = .disabled
    ) {
        self.telemetry = telemetry
        self.base = base
        self.fetcher = fetcher
        self.policy = policy
        self.clock = clock
    }

    /// Lookups currently waiting for a fetch (observability; tests drive single flight by it).
    var lookupsWaiting: Int { state.withLock { $0.waiting } }

    public func client(withID clientID: ClientID) async throws -> Client? {
        guard ClientIDMetadataDocument.isDocumentURL(clientID.rawValue) else { return try await base.client(withID: clientID) }
        let url = clientID.rawValue
        let now = clock.now()
        enum Step { case cached(Client?), join(Task<Outcome, Never>) }
        let step = state.withLock { state -> Step in
            if let entry = state.cache[url], entry.expiresAt > now { return .cached(entry.client) }
            state.waiting += 1
            if let running = state.inFlight[url] { return .join(running) }
            let task = Task { await self.fetch(url) }
            state.inFlight[url] = task
            return .join(task)
        }
        switch step {
        case .cached(let client):
            telemetry.metadataDocumentFetch(.cached)
            return client
        case .join(let task):
            let outcome = await task.value
            state.withLock { $0.waiting -= 1 }
            switch outcome {
            case .resolved(let client): return client
            case .unavailable(let why): throw StorageError.unavailable("client metadata document: \(why)")
            }
        }
    }

    /// The one fetch for `url`; caches what it found (a client, or a failure for
    /// ``failureLifetime``) unless the fetcher refused for capacity.
    private func fetch(_ url: String) async -> Outcome {
        var resolved: Client?
        var lifetime = Self.failureLifetime
        do {
            let fetched = try await fetcher.fetchDocument(at: url)
            if let client = try? ClientIDMetadataDocument.client(from: fetched.body, fetchedFrom: url, policy: policy, now: clock.now()) {
                resolved = client
                lifetime = ClientIDMetadataDocument.cacheLifetime(cacheControl: fetched.cacheControl)
                telemetry.metadataDocumentFetch(.ok)
            } else {
                telemetry.metadataDocumentFetch(.invalid)
            }
        } catch let busy as MetadataFetchUnavailable {
            telemetry.metadataDocumentFetch(.error)
            state.withLock { $0.inFlight[url] = nil }
            return .unavailable(busy.description)
        } catch {
            // Any other failure: the client is unknown for a while.
            telemetry.metadataDocumentFetch(.error)
        }
        let now = clock.now()
        let entry = Entry(client: resolved, expiresAt: now.addingTimeInterval(lifetime.timeInterval))
        state.withLock { state in
            state.inFlight[url] = nil
            if state.cache.count >= Self.maximumCachedDocuments { state.cache = state.cache.filter { $0.value.expiresAt > now } }
            if state.cache.count < Self.maximumCachedDocuments { state.cache[url] = entry }
        }
        return .resolved(resolved)
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
