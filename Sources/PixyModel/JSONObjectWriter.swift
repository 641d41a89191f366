/// Writes one flat JSON object (RFC 8259 §4) member by member, straight into bytes.
///
/// For the fixed-shape documents on the token path (the access token's claims set, the token
/// response, an error body), where a generic `Encodable` encoder spends more time discovering the
/// shape than writing it (docs/performance.md). Strings are escaped as RFC 8259 §7 requires
/// (quotation mark, reverse solidus and U+0000–U+001F); everything else, including `/` and
/// non-ASCII text, is written as its UTF-8 bytes, which is what Foundation's `JSONEncoder` with
/// `.withoutEscapingSlashes` also writes. The caller writes members in the order it wants them.
public struct JSONObjectWriter: Sendable {
    private var output: [UInt8]
    private var isEmpty = true

    /// Starts an object; `capacity` is a hint for the final size in bytes.
    public init(capacity: Int = 256) {
        output = []
        output.reserveCapacity(capacity)
        output.append(UInt8(ascii: "{"))
    }

    /// Adds a string member.
    public mutating func add(_ name: StaticString, _ value: String) {
        writeName(name)
        Self.appendString(value, to: &output)
    }

    /// Adds an integer member.
    public mutating func add(_ name: StaticString, _ value: Int) {
        writeName(name)
        output.append(contentsOf: String(value).utf8)
    }

    /// Adds a string member whose name is only known at run time (a log field); it is escaped
    /// like any string.
    public mutating func add(name: String, _ value: String) {
        if isEmpty { isEmpty = false } else { output.append(UInt8(ascii: ",")) }
        Self.appendString(name, to: &output)
        output.append(UInt8(ascii: ":"))
        Self.appendString(value, to: &output)
    }

    /// Adds a string member when `value` is not `nil`.
    public mutating func addIfPresent(_ name: StaticString, _ value: String?) {
        if let value { add(name, value) }
    }

    /// Adds an integer member when `value` is not `nil`.
    public mutating func addIfPresent(_ name: StaticString, _ value: Int?) {
        if let value { add(name, value) }
    }

    /// The finished object's bytes.
    public consuming func finish() -> [UInt8] {
        output.append(UInt8(ascii: "}"))
        return output
    }

    private mutating func writeName(_ name: StaticString) {
        if isEmpty { isEmpty = false } else { output.append(UInt8(ascii: ",")) }
        // Names are literals chosen by the caller; they are still escaped, so none can break out.
        name.withUTF8Buffer { Self.appendString(bytes: $0, to: &output) }
        output.append(UInt8(ascii: ":"))
    }

    private static func appendString(_ value: String, to output: inout [UInt8]) {
        var value = value
        value.withUTF8 { appendString(bytes: $0, to: &output) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendString(bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
