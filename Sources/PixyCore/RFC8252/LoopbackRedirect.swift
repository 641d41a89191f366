/// Redirect URI comparison (docs/security.md §1.2): byte for byte, with the one exception RFC 8252
/// §7.3 makes for loopback interface redirects, whose port the native app picks at run time.
public enum RedirectURIMatcher {
    /// Whether `requested` matches `registered`.
    ///
    /// Exact bytes, or — when both are `http` URIs on `127.0.0.1`, `[::1]` or `localhost` — the
    /// same bytes once the port is removed from each: scheme, host, path and query may not differ.
    /// No case folding, no normalisation, no prefix match.
    public static func matches(requested: String, registered: String) -> Bool {
        if requested.utf8.elementsEqual(registered.utf8) { return true }
        guard let left = LoopbackURI(requested), let right = LoopbackURI(registered) else { return false }
        return left.host == right.host && left.rest == right.rest
    }

    /// The registered URI that `requested` matches, if any.
    public static func match(requested: String, in registered: [String]) -> String? {
        registered.first { matches(requested: requested, registered: $0) }
    }
}

/// An `http://<loopback>[:port]<rest>` URI split into host and the part after the authority.
public struct LoopbackURI: Sendable, Equatable {
    /// The hosts RFC 8252 §7.3 and §8.3 treat as loopback. `localhost` is NOT RECOMMENDED by
    /// RFC 8252 §8.3, but MCP clients (Claude Code) register it, so it is accepted.
    public static let hosts: Set<String> = ["127.0.0.1", "[::1]", "localhost"]

    /// The host exactly as written.
    public let host: String
    /// The port, if one was written.
    public let port: Int?
    /// Path and query, exactly as written.
    public let rest: String

    /// Splits `uri`, or `nil` if it is not an `http` loopback URI with an optional numeric port.
    public init?(_ uri: String) {
        let bytes = Array(uri.utf8)
        let prefix = Array("http://".utf8)
        guard bytes.count > prefix.count, Array(bytes[0..<prefix.count]) == prefix else { return nil }
        let authorityEnd =
            bytes[prefix.count...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
            ?? bytes.count
        let authority = Array(bytes[prefix.count..<authorityEnd])
        var hostBytes = authority
        var port: Int? = nil
        // The port follows the last ':' unless that ':' is inside an IPv6 literal.
        if let colon = authority.lastIndex(of: UInt8(ascii: ":")), !authority[colon...].contains(UInt8(ascii: "]")) {
            let digits = authority[(colon + 1)...]
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let value = Int(String(decoding: digits, as: UTF8.self)), value <= 65535
            else { return nil }
            port = value
            hostBytes = Array(authority[..<colon])
        }
        let host = String(decoding: hostBytes, as: UTF8.self)
        guard Self.hosts.contains(host) else { return nil }
        self.host = host
        self.port = port
        self.rest = String(decoding: bytes[authorityEnd...], as: UTF8.self)
    }
}
