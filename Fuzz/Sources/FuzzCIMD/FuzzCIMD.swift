// Fuzz target: Client ID Metadata Documents (Sources/PixyCore/CIMD/ClientIDMetadataDocument.swift):
// the document URL shape, the Cache-Control lifetime, the fetch address policy and the
// document itself.
//
// Input: `url` LF `cache-control` LF `document body`. An empty `url` line means the fixed URL
// https://app.example.com/oauth/client.json, which the seed documents name as their client_id.
//
// Invariants:
// - `isDocumentURL` only accepts printable https URLs of at most 2048 bytes with a host, a path
//   other than "/", no fragment, no userinfo and no dot segments; `host(of:)` returns a
//   non-empty host (the start of the authority) exactly for those;
// - `cacheLifetime` is always within 60 s ... 24 h;
// - `FetchAddressPolicy.isPublic` never calls a loopback or private IPv4 address public;
// - an accepted document yields a public client whose id is the URL byte for byte, marked as a
//   metadata-document client, whose redirect URIs the registration policy accepts.
import Foundation
import FuzzSupport
import PixyCore
import PixyModel

let policy = ServerPolicy(issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write", "admin"]))
let now = Date(timeIntervalSince1970: 1_700_000_000)
let defaultURL = "https://app.example.com/oauth/client.json"

func checkDocumentURL(_ url: String) {
    let isDocument = ClientIDMetadataDocument.isDocumentURL(url)
    let host = ClientIDMetadataDocument.host(of: url)
    require((host != nil) == isDocument, "host(of:) disagrees with isDocumentURL for \(url)")
    guard isDocument else { return }
    require(url.utf8.count <= 2048 && isPrintableASCII(url), "accepted a long or unprintable URL")
    require(url.hasPrefix("https://") && !url.contains("#"), "accepted a non-https URL or a fragment: \(url)")
    let afterScheme = url.dropFirst("https://".count)
    let authority = afterScheme.prefix { $0 != "/" }
    require(!authority.isEmpty && !authority.contains("@"), "accepted an empty authority or userinfo: \(url)")
    let path = afterScheme.dropFirst(authority.count).prefix { $0 != "?" }
    require(path.count > 1, "accepted the root path: \(url)")
    require(!path.split(separator: "/").contains { $0 == "." || $0 == ".." }, "accepted a dot segment: \(url)")
    if let host { require(!host.isEmpty && authority.hasPrefix(host), "host \(host) is not the URL's host: \(url)") }
}

func checkCacheLifetime(_ value: String) {
    let lifetime = ClientIDMetadataDocument.cacheLifetime(cacheControl: value)
    require(lifetime >= .seconds(60) && lifetime <= .seconds(86400), "cache lifetime \(lifetime) for \(value)")
}

func checkAddress(_ text: String) {
    guard FetchAddressPolicy.isPublic(text) else { return }
    let octets = text.split(separator: ".", omittingEmptySubsequences: false)
    if octets.count == 4, let first = UInt8(octets[0]), let second = UInt8(octets[1]) {
        require(![0, 10, 127].contains(first) && first < 224, "called \(text) public")
        require(
            !(first == 192 && second == 168) && !(first == 169 && second == 254) && !(first == 172 && (16...31).contains(second)),
            "called private address \(text) public")
    }
    require(!["::", "::1"].contains(text.lowercased()), "called \(text) public")
}

func checkDocument(_ body: [UInt8], url: String) {
    let client: Client
    do {
        client = try ClientIDMetadataDocument.client(from: body, fetchedFrom: url, policy: policy, now: now)
    } catch {
        require(error.code == .invalidClientMetadata || error.code == .invalidRedirectURI, "unexpected error code \(error.code)")
        return
    }
    require(client.clientID.rawValue.utf8.elementsEqual(url.utf8), "the client id is not the document URL")
    require(client.isMetadataDocument && client.isPublic && client.tokenEndpointAuthMethod == .none, "a document client is not public")
    require(client.secretHash == nil && !client.maySkipConsent, "a document client has a secret or skips consent")
    require(!client.redirectURIs.isEmpty && client.redirectURIs.count <= ClientRegistrar.maximumRedirectURIs, "redirect URI count")
    for uri in client.redirectURIs {
        do { try RedirectURIPolicy.validate(uri) } catch { require(false, "a document registered a refused redirect URI: \(uri)") }
    }
    require(client.grantTypes.contains(.authorizationCode), "a document client cannot use the code grant")
    if let scope = client.scope { require(scope.isSubset(of: policy.scopesSupported), "unsupported scope \(scope)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIMD(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = bytes(start, count)
    let (urlLine, afterURL) = splitOnce(input, at: UInt8(ascii: "\n"))
    let (cacheLine, bodyBytes) = afterURL.map { splitOnce($0, at: UInt8(ascii: "\n")) } ?? ([], nil)
    let url = urlLine.isEmpty ? defaultURL : String(decoding: urlLine, as: UTF8.self)
    let cacheControl = String(decoding: cacheLine, as: UTF8.self)

    checkDocumentURL(url)
    checkCacheLifetime(cacheControl)
    require(ClientIDMetadataDocument.cacheLifetime(cacheControl: nil) == .seconds(300), "default cache lifetime changed")
    checkAddress(String(decoding: urlLine, as: UTF8.self))
    checkAddress(cacheControl)
    checkDocument(bodyBytes ?? input, url: url)
    return 0
}
