public import Foundation

/// What discovery found for a URL: the resource (if the URL is a protected resource), the
/// authorization server, and the documents on the way.
public struct DiscoveredServer: Sendable {
    /// The resource identifier to send as `resource` (RFC 8707), nil when the URL is an issuer.
    public var resource: String?
    /// The Protected Resource Metadata, when the URL is a protected resource.
    public var resourceMetadata: ProtectedResourceMetadata?
    /// The challenge the resource answered without a token, if any.
    public var challenge: BearerChallenge?
    /// The issuer identifier.
    public var issuer: String
    /// The authorization server's metadata.
    public var metadata: AuthorizationServerMetadata
    /// Where that metadata was found.
    public var metadataURL: URL?
}

/// Discovery in the order MCP clients follow: the resource's 401 and its `resource_metadata`
/// (RFC 9728 §5.1), else its well-known documents (§3.1); then the authorization server's
/// metadata (RFC 8414 §3.1 and OpenID Connect Discovery), with both identifiers checked (RFC
/// 9728 §3.3, RFC 8414 §3.3). A URL that is no protected resource is tried as an issuer.
public struct Discovery: Sendable {
    let http: any ClientHTTP
    /// Whether every URL fetched must be https or loopback http. The client requires it (a
    /// metadata document fetched in the clear could name an attacker's server); the doctor
    /// fetches anything to report on it, and sends no credentials where this fails.
    let secureOnly: Bool

    /// Discovery over `http`.
    public init(http: any ClientHTTP, secureOnly: Bool = true) {
        self.http = http
        self.secureOnly = secureOnly
    }

    private func permit(_ url: URL) throws {
        if secureOnly { try SecureTransport.check(url, what: "the URL") }
    }

    /// Discovers what protects `url`, or treats `url` as an issuer.
    /// Every URL it will send tokens or credentials to must be https or loopback http.
    public func discover(_ url: URL) async throws -> DiscoveredServer {
        try SecureTransport.check(url, what: "the URL")
        let found = try await discoverUnchecked(url)
        let metadata = found.metadata
        try SecureTransport.check(
            URL(string: found.issuer), metadata.authorizationEndpoint, metadata.tokenEndpoint, metadata.registrationEndpoint,
            what: "the authorization server's endpoint")
        return found
    }

    private func discoverUnchecked(_ url: URL) async throws -> DiscoveredServer {
        let probe = try await unauthenticatedChallenge(url)
        if let (metadata, _) = try await protectedResourceMetadata(for: url, challenge: probe) {
            guard metadata.resource == url.absoluteString else {
                throw PixyClientError.discovery(
                    "the Protected Resource Metadata names resource \(metadata.resource ?? "none"), not \(url.absoluteString) (RFC 9728 §3.3)"
                )
            }
            guard let issuerString = metadata.authorizationServers.first, let issuer = URL(string: issuerString) else {
                throw PixyClientError.discovery("the Protected Resource Metadata lists no authorization_servers")
            }
            let (asMetadata, asURL) = try await authorizationServerMetadata(for: issuer)
            return DiscoveredServer(
                resource: metadata.resource, resourceMetadata: metadata, challenge: probe, issuer: issuerString, metadata: asMetadata,
                metadataURL: asURL)
        }
        let (asMetadata, asURL) = try await authorizationServerMetadata(for: url)
        return DiscoveredServer(
            resource: nil, resourceMetadata: nil, challenge: nil, issuer: asMetadata.issuer ?? url.absoluteString, metadata: asMetadata,
            metadataURL: asURL)
    }

    /// The `Bearer` challenge `url` answers without a token: a GET, then an MCP `initialize`
    /// POST (some servers answer only POST).
    public func unauthenticatedChallenge(_ url: URL) async throws -> BearerChallenge? {
        try permit(url)
        let get = try await http.get(url, headers: [("Accept", "application/json, text/event-stream")])
        if get.status == 401, let header = get.header("WWW-Authenticate") { return BearerChallenge(header: header) }
        let post = try await http.send(
            "POST", url,
            headers: [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")],
            body: Array(Self.initialize.utf8))
        if post.status == 401, let header = post.header("WWW-Authenticate") { return BearerChallenge(header: header) }
        return nil
    }

    /// An MCP `initialize` request, the first thing an MCP client sends.
    public static let initialize =
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"pixy","version":"1"}}}"#

    /// The resource's metadata: from the challenge's `resource_metadata`, else the well-known
    /// URLs in order; nil when there is none.
    public func protectedResourceMetadata(for url: URL, challenge: BearerChallenge?) async throws -> (ProtectedResourceMetadata, URL)? {
        var candidates = WellKnown.protectedResourceMetadataURLs(for: url)
        if let named = challenge?.resourceMetadata.flatMap(URL.init(string:)) { candidates.insert(named, at: 0) }
        for candidate in candidates {
            // A pointer that cannot (or may not) be fetched falls back to the well-known URLs.
            guard (try? permit(candidate)) != nil, let response = try? await http.get(candidate, headers: [("Accept", "application/json")])
            else { continue }
            if response.status == 200, let metadata = ProtectedResourceMetadata(json: response.body) { return (metadata, candidate) }
        }
        return nil
    }

    /// The authorization server's metadata, from the first well-known URL that has it, with
    /// `issuer` equal to the identifier looked up (RFC 8414 §3.3: a mismatch must not be used).
    public func authorizationServerMetadata(for issuer: URL) async throws -> (AuthorizationServerMetadata, URL) {
        try permit(issuer)
        for candidate in WellKnown.authorizationServerMetadataURLs(for: issuer) {
            let response = try await http.get(candidate, headers: [("Accept", "application/json")])
            guard response.status == 200, let metadata = AuthorizationServerMetadata(json: response.body) else { continue }
            guard metadata.issuer == issuer.absoluteString else {
                throw PixyClientError.discovery(
                    "the metadata at \(candidate.absoluteString) names issuer \(metadata.issuer ?? "none"), not \(issuer.absoluteString) (RFC 8414 §3.3)"
                )
            }
            return (metadata, candidate)
        }
        throw PixyClientError.discovery("no authorization server metadata for \(issuer.absoluteString)")
    }
}
