/// Parameters decoded from `application/x-www-form-urlencoded` bytes (a query string or a body),
/// remembering every occurrence so repeated parameters can be refused (RFC 6749 §3.1, §3.2:
/// "Request and response parameters MUST NOT be included more than once").
public struct FormParameters: Sendable {
    /// Every (name, value) pair in order. Values are percent-decoded, `+` is a space.
    public let pairs: [(name: String, value: String)]

    /// Decodes `bytes`. Returns `nil` for a malformed percent escape.
    public init?(urlEncoded bytes: some Collection<UInt8>) {
        // One copy into contiguous memory, then a non-generic scan: the generic version over a
        // ByteBufferView cost about 5% of a whole flow (docs/performance.md).
        guard let pairs = Array(bytes).withUnsafeBufferPointer(Self.parse) else { return nil }
        self.pairs = pairs
    }

    /// Splits at `&` (empty fields skipped), each field at its first `=`, and decodes both halves.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        var fieldStart = 0
        while fieldStart < bytes.count {
            var fieldEnd = fieldStart
            var equals: Int?
            while fieldEnd < bytes.count, bytes[fieldEnd] != UInt8(ascii: "&") {
                if equals == nil, bytes[fieldEnd] == UInt8(ascii: "=") { equals = fieldEnd }
                fieldEnd += 1
            }
            if fieldEnd > fieldStart {
                if let equals {
                    guard let name = decode(bytes, fieldStart..<equals), let value = decode(bytes, equals + 1..<fieldEnd) else {
                        return nil
                    }
                    pairs.append((name, value))
                } else {
                    guard let name = decode(bytes, fieldStart..<fieldEnd) else { return nil }
                    pairs.append((name, ""))
                }
            }
            fieldStart = fieldEnd + 1
        }
        return pairs
    }

    /// Decodes a query or body string.
    public init?(urlEncoded string: String) {
        self.init(urlEncoded: Array(string.utf8))
    }

    /// Parameters from pairs (for tests and internal callers).
    public init(_ pairs: [(String, String)]) {
        self.pairs = pairs.map { (name: $0.0, value: $0.1) }
    }

    /// Every value sent for `name`, empty ones excluded: RFC 6749 §3.1 treats a parameter sent
    /// without a value as omitted.
    public func values(_ name: String) -> [String] {
        pairs.compactMap { $0.name == name && !$0.value.isEmpty ? $0.value : nil }
    }

    /// The one value of `name`, `nil` if absent; `invalid_request` if it appears more than once.
    public func single(_ name: String) throws(OAuthError) -> String? {
        let found = values(name)
        guard found.count <= 1 else {
            throw .invalidRequest("The \(name) parameter was included more than once.")
        }
        return found.first
    }

    /// The names that appear more than once with a value.
    public var repeatedNames: [String] {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for pair in pairs where !pair.value.isEmpty {
            if counts[pair.name] == nil { order.append(pair.name) }
            counts[pair.name, default: 0] += 1
        }
        return order.filter { counts[$0]! > 1 }
    }

    /// `invalid_request` if any parameter (other than those in `allowingRepeats`) is repeated.
    public func rejectRepeats(allowing allowed: Set<String> = []) throws(OAuthError) {
        if let name = repeatedNames.first(where: { !allowed.contains($0) }) {
            throw .invalidRequest("The \(name) parameter was included more than once.")
        }
    }

    /// Percent-decodes one component: `+` becomes a space, `%XX` a byte; anything else is kept.
    /// Invalid UTF-8 after decoding is kept as replacement characters, which no validator accepts.
    ///
    /// `nil` for a malformed escape and for any control character (NUL, CR, LF, DEL, …), raw or
    /// escaped: no OAuth parameter may carry one (RFC 6749 Appendix A limits every parameter to
    /// printable characters), and a NUL would let `alice%00x` name `alice` in a C-string store.
    public static func percentDecode(_ bytes: some Collection<UInt8>) -> String? {
        Array(bytes).withUnsafeBufferPointer { decode($0, 0..<$0.count) }
    }

    /// ``percentDecode(_:)`` of `bytes[range]`.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        var output = [UInt8]()
        output.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            var byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "+"):
                byte = UInt8(ascii: " ")
            case UInt8(ascii: "%"):
                guard index + 1 < range.upperBound, let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1]) else {
                    return nil
                }
                byte = high << 4 | low
                index += 2
            default:
                break
            }
            if byte < 0x20 || byte == 0x7F { return nil }
            output.append(byte)
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Percent-encodes a value for a query string: everything but the unreserved set.
    public static func percentEncode(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output = [UInt8]()
        output.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                output.append(byte)
            default:
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Encodes pairs as `name=value&…`.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }
}
