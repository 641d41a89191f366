import NIOCore
import NIOEmbedded
import NIOTestUtils
import PixyRESP
import Testing

/// The RESP2 wire form of a value, written independently of `RESP`'s decoder, so round trips
/// check one against the other (as Fuzz/Sources/FuzzRESP does).
func wireForm(_ value: RESPValue) -> String {
    switch value {
    case .simpleString(let text): return "+\(text)\r\n"
    case .error(let text): return "-\(text)\r\n"
    case .integer(let number): return ":\(number)\r\n"
    case .bulkString(nil): return "$-1\r\n"
    case .bulkString(let bytes?): return "$\(bytes.count)\r\n" + String(decoding: bytes, as: UTF8.self) + "\r\n"
    case .array(nil): return "*-1\r\n"
    case .array(let elements?): return "*\(elements.count)\r\n" + elements.map(wireForm).joined()
    }
}

/// Representative replies: each RESP2 type, the null forms, empty and nested arrays, and bulk
/// strings that contain CRLF (binary-safe).
let representativeReplies: [(String, RESPValue)] = [
    ("+OK\r\n", .simpleString("OK")),
    ("+\r\n", .simpleString("")),
    ("-ERR unknown command 'NOSUCHCOMMAND'\r\n", .error("ERR unknown command 'NOSUCHCOMMAND'")),
    ("-NOSCRIPT No matching script. Please use EVAL.\r\n", .error("NOSCRIPT No matching script. Please use EVAL.")),
    (":0\r\n", .integer(0)),
    (":-42\r\n", .integer(-42)),
    (":9223372036854775807\r\n", .integer(Int.max)),
    ("$5\r\nhello\r\n", .bulkString(Array("hello".utf8))),
    ("$0\r\n\r\n", .bulkString([])),
    ("$6\r\na\r\nb\r\n\r\n", .bulkString(Array("a\r\nb\r\n".utf8))),
    ("$-1\r\n", .bulkString(nil)),
    ("*0\r\n", .array([])),
    ("*-1\r\n", .array(nil)),
    ("*3\r\n:1\r\n$1\r\na\r\n$-1\r\n", .array([.integer(1), .bulkString([97]), .bulkString(nil)])),
    ("*2\r\n*2\r\n+OK\r\n:1\r\n*1\r\n-ERR no\r\n", .array([.array([.simpleString("OK"), .integer(1)]), .array([.error("ERR no")])])),
]

@Suite("RESP decoder in a channel pipeline")
struct RESPDecoderTests {
    @Test("ByteToMessageDecoderVerifier: every representative reply decodes however the bytes arrive")
    func verifier() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: representativeReplies.map { ($0.0, [$0.1]) },
            decoderFactory: { RESPDecoder() })
    }

    @Test("A stream of every representative reply, split at every byte, yields each reply once and in order")
    func splitAtEveryByte() throws {
        let stream = representativeReplies.map(\.0).joined()
        let bytes = Array(stream.utf8)
        for cut in 0...bytes.count {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<cut]))
            try channel.writeInbound(ByteBuffer(bytes: bytes[cut...]))
            var decoded: [RESPValue] = []
            while let value = try channel.readInbound(as: RESPValue.self) { decoded.append(value) }
            #expect(decoded == representativeReplies.map(\.1), "split at byte \(cut)")
            #expect(try channel.finish().isClean)
        }
    }

    @Test("A partial reply produces nothing until its last byte arrives")
    func partialReplyWaits() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
        try channel.writeInbound(ByteBuffer(string: "*2\r\n$5\r\nhel"))
        #expect(try channel.readInbound(as: RESPValue.self) == nil)
        try channel.writeInbound(ByteBuffer(string: "lo\r\n:7\r"))
        #expect(try channel.readInbound(as: RESPValue.self) == nil)
        try channel.writeInbound(ByteBuffer(string: "\n"))
        #expect(try channel.readInbound(as: RESPValue.self) == .array([.bulkString(Array("hello".utf8)), .integer(7)]))
        #expect(try channel.finish().isClean)
    }

    @Test(
        "Malformed bytes in the pipeline are a protocol violation",
        arguments: ["?x\r\n", ":abc\r\n", "$-2\r\n", "$3\r\nabcXY", "*1000001\r\n"])
    func malformedInPipeline(text: String) throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
        let error = #expect(throws: RedisError.self) { try channel.writeInbound(ByteBuffer(string: text)) }
        #expect(error?.code == .protocolViolation)
        #expect(error?.isConnectionFailure == true)
        _ = try? channel.finish()
    }
}

@Suite("RESP encoder round trips")
struct RESPEncoderRoundTripTests {
    @Test(
        "An encoded command decodes to the array of its arguments' bytes, consuming exactly the encoding",
        arguments: [
            ["PING"],
            ["SET", "auth:code:é", "", "PX", "60000", "NX"],
            ["SET", "k", "line one\r\nline two"],
            ["EVALSHA", "0123456789abcdef0123456789abcdef01234567", "2", "a", "b", "{\"json\":[1,2]}"],
            [],
        ])
    func commandRoundTrip(arguments: [String]) throws {
        var buffer = ByteBuffer()
        RESP.encodeCommand(arguments, into: &buffer)
        buffer.writeString("+after\r\n")
        #expect(try RESP.decode(from: &buffer) == .array(arguments.map { .bulkString(Array($0.utf8)) }))
        #expect(try RESP.decode(from: &buffer) == .simpleString("after"), "nothing left over, nothing consumed beyond")
        #expect(buffer.readableBytes == 0)
    }

    @Test("Every representative reply decodes to its value, whose wire form is the same bytes again")
    func valueRoundTrip() throws {
        for (text, value) in representativeReplies {
            var buffer = ByteBuffer(string: text)
            let decoded = try RESP.decode(from: &buffer)
            #expect(decoded == value, "\(text.debugDescription)")
            #expect(buffer.readableBytes == 0)
            #expect(wireForm(value) == text)
        }
    }
}
