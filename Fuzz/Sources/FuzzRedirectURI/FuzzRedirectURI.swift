// Fuzz target: redirect URI registration policy and matching
// (Sources/PixyCore/RFC7591/RedirectURIPolicy.swift, Sources/PixyCore/RFC8252/LoopbackRedirect.swift).
//
// Input: `registered` LF `requested` (without a LF, both are the whole input).
//
// Invariants:
// - a URI the policy accepts is 1...2000 bytes of printable ASCII (no control characters, no
//   spaces, nothing non-ASCII), has no fragment, no userinfo, a scheme that cannot run code, and
//   uses http only on a loopback host (RFC 8252 §7.1, §7.3; OAuth 2.1 §2.3.1);
// - `LoopbackURI` only accepts `http://` + a loopback host + an optional port ≤ 65535 + the rest;
// - matching is reflexive and symmetric, `match(in:)` agrees with `matches`, and a URI that
//   matches an accepted registered URI is itself printable ASCII without fragment or userinfo
//   (docs/threat-model.md: only the loopback port may differ).
import FuzzSupport
import PixyCore

func accepted(_ uri: String) -> Bool {
    do { try RedirectURIPolicy.validate(uri); return true } catch { return false }
}

func scheme(of uri: String) -> String? {
    guard let colon = uri.firstIndex(of: ":") else { return nil }
    return uri[..<colon].lowercased()
}

/// The authority of a hierarchical URI (`scheme://authority/...`), if it has one.
func authority(of uri: String) -> Substring? {
    guard let range = uri.range(of: "://") else { return nil }
    let rest = uri[range.upperBound...]
    return rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
}

func checkAccepted(_ uri: String) {
    guard accepted(uri) else { return }
    require(!uri.isEmpty && uri.utf8.count <= RedirectURIPolicy.maximumLength, "accepted an empty or over-long URI")
    require(isPrintableASCII(uri), "accepted a URI with control, space or non-ASCII bytes: \(Array(uri.utf8))")
    require(!uri.contains("#"), "accepted a fragment: \(uri)")
    guard let scheme = scheme(of: uri) else { require(false, "accepted a URI without scheme: \(uri)"); return }
    require(!["javascript", "data", "file", "vbscript", "blob", "about", "filesystem"].contains(scheme), "accepted scheme \(scheme)")
    switch scheme {
    case "http":
        require(LoopbackURI(uri) != nil, "accepted http on a non-loopback host: \(uri)")
        require(authority(of: uri).map { !$0.contains("@") } ?? false, "accepted userinfo: \(uri)")
    case "https":
        require(
            authority(of: uri).map { !$0.isEmpty && !$0.contains("@") } ?? false, "accepted https without host or with userinfo: \(uri)")
    default:
        require(scheme.contains(".") && !uri.contains("@"), "accepted a custom scheme not in reverse-domain form: \(uri)")
    }
}

func checkLoopback(_ uri: String) {
    guard let loopback = LoopbackURI(uri) else { return }
    require(LoopbackURI.hosts.contains(loopback.host), "LoopbackURI accepted host \(loopback.host)")
    require(uri.utf8.starts(with: ("http://" + loopback.host).utf8), "LoopbackURI host is not the one written: \(uri)")
    require(uri.utf8.reversed().starts(with: loopback.rest.utf8.reversed()), "LoopbackURI rest is not the tail of the URI: \(uri)")
    require(
        loopback.rest.utf8.first.map { [UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "#")].contains($0) } ?? true,
        "LoopbackURI rest starts inside the authority: \(uri)")
    if let port = loopback.port { require((0...65535).contains(port), "LoopbackURI port \(port) out of range") }
    let portText = uri.utf8.count - "http://".utf8.count - loopback.host.utf8.count - loopback.rest.utf8.count
    require(loopback.port == nil ? portText == 0 : (2...6).contains(portText), "LoopbackURI lost bytes between host and rest: \(uri)")
}

func checkMatch(requested: String, registered: String) {
    let forward = RedirectURIMatcher.matches(requested: requested, registered: registered)
    require(forward == RedirectURIMatcher.matches(requested: registered, registered: requested), "matching is not symmetric")
    require((RedirectURIMatcher.match(requested: requested, in: [registered]) != nil) == forward, "match(in:) disagrees with matches")
    require(RedirectURIMatcher.matches(requested: requested, registered: requested), "matching is not reflexive")
    guard forward else { return }
    if requested != registered {
        let left = LoopbackURI(requested), right = LoopbackURI(registered)
        require(
            left != nil && right != nil && left!.host == right!.host && left!.rest == right!.rest,
            "URIs that differ matched outside the loopback-port rule: \(requested) vs \(registered)")
    }
    if accepted(registered) {
        // What a client may send in place of an accepted URI: still printable, no fragment, no userinfo.
        require(isPrintableASCII(requested), "a URI with control, space or non-ASCII bytes matched \(registered)")
        require(!requested.contains("#"), "a URI with a fragment matched \(registered)")
        require(authority(of: requested).map { !$0.contains("@") } ?? true, "a URI with userinfo matched \(registered)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedirectURI(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = bytes(start, count)
    let (first, second) = splitOnce(input, at: UInt8(ascii: "\n"))
    let registered = String(decoding: first, as: UTF8.self)
    let requested = second.map { String(decoding: $0, as: UTF8.self) } ?? registered
    for uri in [registered, requested] {
        checkAccepted(uri)
        checkLoopback(uri)
    }
    checkMatch(requested: requested, registered: registered)
    // The same URI with another port must match exactly when both are loopback URIs.
    if let loopback = LoopbackURI(registered) {
        let moved = "http://\(loopback.host):65535\(loopback.rest)"
        require(RedirectURIMatcher.matches(requested: moved, registered: registered), "a loopback URI with another port did not match")
        checkMatch(requested: moved, registered: registered)
    }
    return 0
}
