public import struct Foundation.Date
import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP authorization
/// 2025-11-25): a client whose `client_id` is an https URL serving its own metadata.
public enum ClientIDMetadataDocument {
    /// Whether `clientID` has the shape of a metadata-document URL, and so must be resolved by
    /// fetching rather than looked up: https, a host, a path other than "/", no fragment, no
    /// userinfo, no dot segments, printable ASCII, at most 2048 bytes.
    public static func isDocumentURL(_ clientID: String) -> Bool {
        let bytes = Array(clientID.utf8)
        guard bytes.count <= 2048, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), clientID.hasPrefix("https://"),
            !clientID.contains("#")
        else { return false }
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
            var metadata = try? decoder.decode(ClientMetadataRequest.self, from: Data(body))
        else {
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

/// SSRF guard (docs/threat-model.md, "SSRF through a metadata-document `client_id`"): which
/// resolved addresses a metadata fetch may connect to.
///
/// Addresses are parsed into bytes with `inet_pton`, never matched as text. IPv4 addresses must be
/// outside every special-purpose block of the IANA IPv4 registry that is not globally reachable
/// (RFC 6890 and its updates). IPv6 addresses must be global unicast (2000::/3, RFC 4291 §2.4)
/// outside the documentation, benchmarking and protocol blocks; addresses that embed an IPv4
/// address (IPv4-mapped, RFC 4291 §2.5.5.2; NAT64 well-known prefix, RFC 6052 §2.1; 6to4,
/// RFC 3056 §2) are judged by the IPv4 rules applied to that address. The deprecated
/// IPv4-compatible form (RFC 4291 §2.5.5.1) and the local-use NAT64 prefix 64:ff9b:1::/48
/// (RFC 8215), whose embedded address the server cannot locate, are refused.
public enum FetchAddressPolicy {
    /// Whether `address` (textual IPv4 or IPv6) is public: not loopback, private, link-local,
    /// unique-local, site-local, carrier-grade NAT, documentation, benchmarking, multicast,
    /// unspecified or otherwise reserved. Anything that does not parse is not public.
    public static func isPublic(_ address: String) -> Bool {
        if let bytes = parse(address, family: AF_INET, count: 4) { return isPublicIPv4(bytes) }
        if let bytes = parse(address, family: AF_INET6, count: 16) { return isPublicIPv6(bytes) }
        return false
    }

    /// `inet_pton` into `count` bytes, or nil when `address` is not an address of `family`.
    /// (A zone suffix such as `%eth0` does not parse: scoped addresses are link-local anyway.)
    private static func parse(_ address: String, family: Int32, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let parsed = bytes.withUnsafeMutableBytes { buffer in inet_pton(family, address, buffer.baseAddress) }
        return parsed == 1 ? bytes : nil
    }

    /// The IPv4 rules (IANA IPv4 Special-Purpose Address Registry, RFC 6890).
    static func isPublicIPv4(_ b: [UInt8]) -> Bool {
        let (a, b1, b2) = (b[0], b[1], b[2])
        switch a {
        case 0: return false  // 0/8 "this network" (RFC 791)
        case 10: return false  // 10/8 private (RFC 1918)
        case 100 where b1 & 0xC0 == 64: return false  // 100.64/10 carrier-grade NAT (RFC 6598)
        case 127: return false  // 127/8 loopback
        case 169 where b1 == 254: return false  // 169.254/16 link-local, cloud metadata (RFC 3927)
        case 172 where b1 & 0xF0 == 16: return false  // 172.16/12 private
        case 192 where b1 == 0 && b2 == 0: return false  // 192.0.0/24 protocol assignments (RFC 6890)
        case 192 where b1 == 0 && b2 == 2: return false  // 192.0.2/24 TEST-NET-1 (RFC 5737)
        case 192 where b1 == 88 && b2 == 99: return false  // 192.88.99/24 6to4 relay anycast (RFC 7526)
        case 192 where b1 == 168: return false  // 192.168/16 private
        case 198 where b1 & 0xFE == 18: return false  // 198.18/15 benchmarking (RFC 2544)
        case 198 where b1 == 51 && b2 == 100: return false  // 198.51.100/24 TEST-NET-2
        case 203 where b1 == 0 && b2 == 113: return false  // 203.0.113/24 TEST-NET-3
        case 224...255: return false  // 224/4 multicast, 240/4 reserved, broadcast
        default: return true
        }
    }

    /// The IPv6 rules (IANA IPv6 Special-Purpose Address Registry, RFC 6890).
    static func isPublicIPv6(_ b: [UInt8]) -> Bool {
        let word0 = UInt16(b[0]) << 8 | UInt16(b[1])
        let word1 = UInt16(b[2]) << 8 | UInt16(b[3])
        // ::ffff:0:0/96 IPv4-mapped: the embedded address decides.
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return isPublicIPv4(Array(b[12..<16])) }
        // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052 §2.1): the embedded address decides.
        if word0 == 0x0064 && word1 == 0xFF9B && b[4..<12].allSatisfy({ $0 == 0 }) { return isPublicIPv4(Array(b[12..<16])) }
        // Everything else outside 2000::/3 is not global unicast: ::/8 (unspecified, loopback,
        // IPv4-compatible), 64:ff9b:1::/48, 100::/64 discard, 5f00::/16 SRv6, fc00::/7 unique local,
        // fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast.
        guard b[0] & 0xE0 == 0x20 else { return false }
        if word0 == 0x2001 && word1 < 0x0200 { return false }  // 2001::/23 protocol assignments (Teredo, ORCHID, benchmarking)
        if word0 == 0x2001 && word1 == 0x0DB8 { return false }  // 2001:db8::/32 documentation (RFC 3849)
        if word0 & 0xFFF0 == 0x3FF0 { return false }  // 3fff::/20 documentation (RFC 9637)
        if word0 == 0x2002 { return isPublicIPv4(Array(b[2..<6])) }  // 2002::/16 6to4: the embedded address decides
        return true
    }
}
