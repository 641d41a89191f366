/// The parameters of a `Bearer` challenge in `WWW-Authenticate` (RFC 6750 §3), including
/// `resource_metadata` (RFC 9728 §5.1) and `scope` (RFC 6750 §3, used for step-up).
public struct BearerChallenge: Sendable, Equatable {
    /// The auth-params, names lowercased.
    public var parameters: [String: String]

    /// The `error` code, e.g. `invalid_token` or `insufficient_scope`.
    public var error: String? { parameters["error"] }
    /// The Protected Resource Metadata URL (RFC 9728 §5.1).
    public var resourceMetadata: String? { parameters["resource_metadata"] }
    /// The scopes the resource asks for, space-separated.
    public var scope: [String] { (parameters["scope"] ?? "").split(separator: " ").map(String.init) }

    /// Parses a `WWW-Authenticate` value and returns its `Bearer` challenge, or nil when it has
    /// none. Parameters are `token=token` or `token="quoted string"` (RFC 9110 §11.2).
    public init?(header: String) {
        var scanner = Scanner(Array(header.utf8))
        while !scanner.atEnd {
            scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ",") }
            let scheme = scanner.token()
            if scheme.isEmpty { return nil }
            let parameters = scanner.parameters()
            if scheme.lowercased() == "bearer" {
                self.parameters = parameters
                return
            }
        }
        return nil
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { index >= bytes.count }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while index < bytes.count, predicate(bytes[index]) { index += 1 }
        }

        mutating func token() -> String {
            let start = index
            skip { byte in
                byte != UInt8(ascii: " ") && byte != UInt8(ascii: ",") && byte != UInt8(ascii: "=") && byte != UInt8(ascii: "\"")
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// Reads `name=value` pairs until the next scheme (a token not followed by `=`).
        mutating func parameters() -> [String: String] {
            var result: [String: String] = [:]
            while true {
                skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ",") }
                let mark = index
                let name = token()
                skip { $0 == UInt8(ascii: " ") }
                guard !name.isEmpty, index < bytes.count, bytes[index] == UInt8(ascii: "=") else {
                    index = mark
                    return result
                }
                index += 1
                skip { $0 == UInt8(ascii: " ") }
                if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
                    index += 1
                    var value: [UInt8] = []
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                        if bytes[index] == UInt8(ascii: "\\"), index + 1 < bytes.count { index += 1 }
                        value.append(bytes[index])
                        index += 1
                    }
                    index += 1
                    result[name.lowercased()] = String(decoding: value, as: UTF8.self)
                } else {
                    result[name.lowercased()] = token()
                }
            }
        }
    }
}
