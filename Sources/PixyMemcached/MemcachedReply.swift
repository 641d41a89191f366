import NIOCore

/// One reply in Memcached's meta text protocol: a status (`VA`, `HD`, `EN`, `NF`, `NS`, `EX`,
/// `MN`, or `VERSION`), its flags, and for `VA` the value's bytes.
public struct MemcachedReply: Sendable, Equatable {
    /// The first word of the reply line.
    public var status: String
    /// The words after it (for `VA`, after the size), e.g. `c1234` for a CAS value.
    public var flags: [String]
    /// The value (`VA` only).
    public var value: [UInt8]?

    /// The value of the flag that starts with `letter` (e.g. `c` for the CAS value).
    public func flag(_ letter: Character) -> String? {
        flags.first { $0.first == letter }.map { String($0.dropFirst()) }
    }

    /// The CAS value, if the reply carries one.
    public var cas: UInt64? { flag("c").flatMap { UInt64($0) } }
}

/// Splits the byte stream into ``MemcachedReply``s. An error line (`ERROR`, `CLIENT_ERROR`,
/// `SERVER_ERROR`) is a reply too, so the command waiting for it fails with the server's words.
struct MemcachedReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = MemcachedReply

    /// Longest reply line accepted: Memcached's lines are short; anything longer is not Memcached.
    static let maximumLineLength = 8192
    /// Largest value accepted (Memcached's default item size limit).
    static let maximumValueLength = 1 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > Self.maximumLineLength { throw MemcachedError.protocolViolation("reply line too long") }
            return .needMoreData
        }
        let lineLength = newline - view.startIndex + 1
        guard lineLength >= 2, view[newline - 1] == UInt8(ascii: "\r") else {
            throw MemcachedError.protocolViolation("reply line not ended by CRLF")
        }
        let line = String(decoding: view[view.startIndex..<(newline - 1)], as: UTF8.self)
        let words = line.split(separator: " ").map(String.init)
        guard let status = words.first else { throw MemcachedError.protocolViolation("empty reply line") }
        if status == "VA" {
            guard words.count >= 2, let size = Int(words[1]), size >= 0, size <= Self.maximumValueLength else {
                throw MemcachedError.protocolViolation("bad VA line")
            }
            guard buffer.readableBytes >= lineLength + size + 2 else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: lineLength)
            let value = buffer.readBytes(length: size)!
            guard buffer.readBytes(length: 2) == [UInt8(ascii: "\r"), UInt8(ascii: "\n")] else {
                throw MemcachedError.protocolViolation("value not ended by CRLF")
            }
            context.fireChannelRead(NIOAny(MemcachedReply(status: status, flags: Array(words.dropFirst(2)), value: value)))
            return .continue
        }
        buffer.moveReaderIndex(forwardBy: lineLength)
        context.fireChannelRead(NIOAny(MemcachedReply(status: status, flags: Array(words.dropFirst()), value: nil)))
        return .continue
    }
}
