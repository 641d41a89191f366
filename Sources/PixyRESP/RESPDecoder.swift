public import NIOCore

/// Decodes a byte stream into RESP values, one per complete reply (``RESP/decode(from:)``); a
/// malformed reply throws ``RedisError`` with code ``RedisError/Code/protocolViolation``.
public struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    /// Each decoded reply.
    public typealias InboundOut = RESPValue

    /// A decoder.
    public init() {}

    /// The next complete value, or `nil` when more bytes are needed.
    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try RESP.decode(from: &buffer)
    }

    /// As ``decode(buffer:)``: at the end of the stream a partial reply is simply dropped.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }
}
