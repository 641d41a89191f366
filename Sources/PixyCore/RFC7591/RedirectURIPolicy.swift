/// Which redirect URIs a client may register (docs/security.md §7, RFC 8252 §7, OAuth 2.1 §2.3.1).
public enum RedirectURIPolicy {
    /// Longer URIs are refused: real redirect URIs are short, and long ones hide tricks.
    public static let maximumLength = 2000

    /// Schemes that run code or read local data in a browser: never a redirect target.
    static let forbiddenSchemes: Set<String> = ["javascript", "data", "file", "vbscript", "blob", "about", "filesystem"]

    /// Validates one URI for registration: `https` with a host, `http` on a loopback host, or a
    /// private-use scheme in reverse-domain form (RFC 8252 §7.1). Everything must be printable
    /// ASCII without spaces; no fragment, no userinfo, nothing relative.
    public static func validate(_ uri: String) throws(OAuthError) {
        func refuse(_ why: String) -> OAuthError { OAuthError(.invalidRedirectURI, "Redirect URI refused: \(why)") }
        let bytes = Array(uri.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { throw refuse("empty or too long.") }
        // Control characters and whitespace are refused outright, so "java\tscript:" cannot slip by.
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw refuse("it contains whitespace, control or non-ASCII characters.") }
        guard !bytes.contains(UInt8(ascii: "#")) else { throw refuse("it contains a fragment.") }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { throw refuse("it is not an absolute URI.") }
        let schemeBytes = bytes[..<colon]
        // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        guard let first = schemeBytes.first, isAlpha(first),
            schemeBytes.allSatisfy({
                isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
            })
        else { throw refuse("it is not an absolute URI.") }
        let scheme = String(decoding: schemeBytes, as: UTF8.self).lowercased()
        guard !forbiddenSchemes.contains(scheme) else { throw refuse("the \(scheme) scheme is not allowed.") }
        let rest = bytes[(colon + 1)...]

        switch scheme {
        case "https", "http":
            let expected = Array("//".utf8)
            guard rest.count > 2, Array(rest.prefix(2)) == expected else { throw refuse("it has no host.") }
            let authorityStart = rest.startIndex + 2
            let authorityEnd = bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.count
            let authority = bytes[authorityStart..<authorityEnd]
            guard !authority.isEmpty else { throw refuse("it has no host.") }
            guard !authority.contains(UInt8(ascii: "@")) else { throw refuse("it contains user information.") }
            if scheme == "http" {
                // Only loopback may use http (RFC 8252 §7.3, OAuth 2.1 §2.3.1); the scheme must be
                // lower case so byte-exact matching with the LoopbackURI rule stays simple.
                guard LoopbackURI(uri) != nil else {
                    throw refuse("http is allowed only for loopback hosts (127.0.0.1, [::1], localhost).")
                }
            }
        default:
            // RFC 8252 §7.1: private-use schemes in reverse domain name form, e.g. com.example.app:/cb.
            guard scheme.contains("."), !rest.isEmpty else {
                throw refuse("custom schemes must be in reverse-domain form, e.g. com.example.app:/callback.")
            }
            guard !rest.contains(UInt8(ascii: "@")) else { throw refuse("it contains user information.") }
        }
    }

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
