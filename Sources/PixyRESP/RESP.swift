public import NIOCore

/// RESP encoding and decoding, pure functions over `ByteBuffer`.
public enum RESP {
    /// Largest bulk string accepted (Redis' own limit is 512 MB; Pixy's values are small).
    public static let maximumBulkLength = 16 * 1024 * 1024
    /// Deepest array nesting accepted. Pixy's replies nest two levels (EXEC of arrays); without a
    /// limit, a reply of `*1\r\n` repeated overflows the stack (found by Fuzz/Sources/FuzzRESP).
    public static let maximumDepth = 32

    /// Writes a command as an array of bulk strings, the form Redis expects from clients.
    public static func encodeCommand(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            let bytes = Array(argument.utf8)
            buffer.writeString("$\(bytes.count)\r\n")
            buffer.writeBytes(bytes)
            buffer.writeString("\r\n")
        }
    }

    /// Reads one complete value, or returns `nil` (leaving the buffer untouched) when more bytes
    /// are needed. A malformed reply throws ``RedisError`` with code
    /// ``RedisError/Code/protocolViolation``.
    public static func decode(from buffer: inout ByteBuffer) throws -> RESPValue? {
        var copy = buffer
        guard let value = try parse(&copy) else { return nil }
        buffer = copy
        return value
    }

    private static func line(_ buffer: inout ByteBuffer) throws -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")) else {
            if view.count > 64 * 1024 { throw RedisError.protocolViolation("line too long") }
            return nil
        }
        let length = cr - view.startIndex
        guard buffer.readableBytes >= length + 2 else { return nil }
        let text = buffer.readString(length: length)!
        guard buffer.readInteger(as: UInt8.self) == UInt8(ascii: "\r"), buffer.readInteger(as: UInt8.self) == UInt8(ascii: "\n") else {
            throw RedisError.protocolViolation("expected CRLF")
        }
        return text
    }

    private static func parse(_ buffer: inout ByteBuffer, depth: Int = 0) throws -> RESPValue? {
        guard let marker = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let text = try line(&buffer) else { return nil }
        switch marker {
        case UInt8(ascii: "+"): return .simpleString(text)
        case UInt8(ascii: "-"): return .error(text)
        case UInt8(ascii: ":"):
            guard let value = Int(text) else { throw RedisError.protocolViolation("bad integer") }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(text), length >= -1, length <= maximumBulkLength else {
                throw RedisError.protocolViolation("bad bulk length")
            }
            if length == -1 { return .bulkString(nil) }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readBytes(length: length) else { return nil }
            guard buffer.readInteger(as: UInt8.self) == UInt8(ascii: "\r"), buffer.readInteger(as: UInt8.self) == UInt8(ascii: "\n") else {
                throw RedisError.protocolViolation("expected CRLF after bulk string")
            }
            return .bulkString(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(text), count >= -1, count <= 1_000_000 else { throw RedisError.protocolViolation("bad array length") }
            guard depth < maximumDepth else { throw RedisError.protocolViolation("arrays nested too deeply") }
            if count == -1 { return .array(nil) }
            var elements: [RESPValue] = []
            // Each element takes at least 3 bytes, so the count alone cannot make this allocate much.
            elements.reserveCapacity(min(count, buffer.readableBytes / 3))
            for _ in 0..<count {
                guard let element = try parse(&buffer, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw RedisError.protocolViolation("unknown type byte \(marker)")
        }
    }
}
