/// RFC 8707 resource indicators: the protected resource a token is meant for, emitted as `aud`.
public enum ResourceIndicator {
    /// Validates a `resource` value: RFC 8707 §2 "MUST be an absolute URI … MUST NOT include a
    /// fragment component". Pixy also refuses control characters, spaces and userinfo, and
    /// requires an `http(s)` URI with a host, which is what MCP servers are.
    public static func validate(_ value: String) throws(OAuthError) -> String {
        let bytes = Array(value.utf8)
        guard bytes.count <= 2048, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidTarget("The resource must be an absolute URI.")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else {
            throw .invalidTarget("The resource must not contain a fragment.")
        }
        let lower = value.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("https://") {
            schemeLength = 8
        } else if lower.hasPrefix("http://") {
            schemeLength = 7
        } else {
            throw .invalidTarget("The resource must be an absolute http or https URI.")
        }
        let afterScheme = bytes[schemeLength...]
        let authorityEnd = afterScheme.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.count
        let authority = bytes[schemeLength..<authorityEnd]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else {
            throw .invalidTarget("The resource must name a host and no user information.")
        }
        return value
    }
}
