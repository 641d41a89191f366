public import struct Foundation.Date
import Foundation

/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP authorization
/// 2025-11-25): a client whose `client_id` is an https URL serving its own metadata.
public enum ClientIDMetadataDocument {
    /// Whether `clientID` has the shape of a metadata-document URL, and so must be resolved by
    /// fetching rather than looked up: https, a host, a path other than "/", no fragment, no
    /// userinfo, no dot segments, printable ASCII, at most 2048 bytes.
    public static func isDocumentURL(_ clientID: String) -> Bool {
        let bytes = Array(clientID.utf8)
        guard bytes.count <= 2048, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), clientID.hasPrefix("https://"),
              !clientID.contains("#") else { return false }
        let rest = clientID.dropFirst("https://".count)
        guard let slash = rest.firstIndex(of: "/") else { return false }
        let authority = rest[..<slash]
        let path = rest[slash...].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard !authority.isEmpty, !authority.contains("@"), path.count > 1 else { return false }
        // A host before any port, and a closed IPv6 literal, so `host(of:)` is never empty or nil.
        guard !authority.hasPrefix(":"), !authority.hasPrefix("[") || authority.contains("]") else { return false }
        return !path.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }

    /// The host part of a document URL (shown on the consent page, checked against the allow-list).
    public static func host(of clientID: String) -> String? {
        guard isDocumentURL(clientID) else { return nil }
        let authority = clientID.dropFirst("https://".count).prefix { $0 != "/" }
        if authority.hasPrefix("[") { return authority.firstIndex(of: "]").map { String(authority[...$0]) } }
        return String(authority.prefix { $0 != ":" })
    }

    /// The one field a document has beyond registration metadata.
    struct DocumentIdentity: Decodable {
        var clientID: String?
        enum CodingKeys: String, CodingKey { case clientID = "client_id" }
    }

    /// The client a fetched document describes, or why it is refused.
    ///
    /// - `client_id` must equal the URL it was fetched from, byte for byte.
    /// - Redirect URIs and the rest are validated as for dynamic registration.
    /// - The client is public and uses PKCE. `none` and `private_key_jwt` (which ChatGPT's
    ///   documents offer) are both accepted as `none`; shared-secret methods are refused, since a
    ///   public document cannot hold a secret.
    public static func client(from body: [UInt8], fetchedFrom url: String, policy: ServerPolicy, now: Date) throws(OAuthError) -> Client {
        func invalid(_ why: String) -> OAuthError { OAuthError(.invalidClientMetadata, "Client metadata document refused: \(why)") }
        let decoder = JSONDecoder()
        guard let identity = try? decoder.decode(DocumentIdentity.self, from: Data(body)),
              var metadata = try? decoder.decode(ClientMetadataRequest.self, from: Data(body)) else {
            throw invalid("it is not a JSON object of the expected shape.")
        }
        guard let documentID = identity.clientID, documentID.utf8.elementsEqual(url.utf8) else {
            throw invalid("its client_id does not equal the URL it was fetched from.")
        }
        switch metadata.tokenEndpointAuthMethod {
        case nil, "none", "private_key_jwt": metadata.tokenEndpointAuthMethod = "none"
        default: throw invalid("token_endpoint_auth_method must be none (Pixy treats these clients as public, with PKCE).")
        }
        // The registration rules for everything else (software_id/version are not shown for these).
        var client = try ClientRegistrar.validateMetadata(metadata, policy: policy, now: now)
        client.clientID = ClientID(url)
        client.isMetadataDocument = true
        return client
    }

    /// How long a fetched document is cached: its `Cache-Control: max-age`, kept within 1 minute
    /// and 24 hours; 5 minutes when the server says nothing; 1 minute for `no-store`/`no-cache`.
    public static func cacheLifetime(cacheControl: String?) -> Duration {
        guard let cacheControl = cacheControl?.lowercased() else { return .seconds(300) }
        let directives = cacheControl.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if directives.contains("no-store") || directives.contains("no-cache") { return .seconds(60) }
        if let maxAge = directives.first(where: { $0.hasPrefix("max-age=") }).flatMap({ Int($0.dropFirst("max-age=".count)) }) {
            return .seconds(min(max(maxAge, 60), 86400))
        }
        return .seconds(300)
    }
}

/// SSRF guard (issue 3 §8): which resolved addresses a metadata fetch may connect to.
public enum FetchAddressPolicy {
    /// Whether `address` (textual IPv4 or IPv6) is public: not loopback, private, link-local,
    /// unique-local, carrier-grade NAT, multicast, unspecified or otherwise reserved.
    public static func isPublic(_ address: String) -> Bool {
        if address.contains(":") { return isPublicIPv6(address.lowercased()) }
        let parts = address.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return false }
        let (a, b) = (parts[0], parts[1])
        switch a {
        case 0, 10, 127: return false
        case 100 where (64...127).contains(b): return false        // 100.64/10 carrier-grade NAT
        case 169 where b == 254: return false                       // link-local, cloud metadata
        case 172 where (16...31).contains(b): return false
        case 192 where b == 168: return false
        case 192 where b == 0 && parts[2] == 0: return false        // 192.0.0/24 protocol assignments
        case 198 where b == 18 || b == 19: return false             // benchmarking
        case 224...255: return false                                // multicast, reserved, broadcast
        default: return true
        }
    }

    private static func isPublicIPv6(_ address: String) -> Bool {
        if address == "::" || address == "::1" { return false }
        if address.hasPrefix("::ffff:") { return isPublic(String(address.dropFirst("::ffff:".count))) }
        let first = address.split(separator: ":", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard let value = UInt16(first.isEmpty ? "0" : first, radix: 16) else { return false }
        if value & 0xFE00 == 0xFC00 { return false }   // fc00::/7 unique local
        if value & 0xFFC0 == 0xFE80 { return false }   // fe80::/10 link-local
        if value & 0xFF00 == 0xFF00 { return false }   // multicast
        if value == 0 { return false }                 // ::/16 (IPv4-compatible, unspecified…)
        return true
    }
}
