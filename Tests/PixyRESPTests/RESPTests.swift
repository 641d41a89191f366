import NIOCore
import PixyRESP
import Testing

@Suite("RESP codec")
struct RESPTests {
    func decode(_ text: String) throws -> RESPValue? {
        var buffer = ByteBuffer(string: text)
        return try RESP.decode(from: &buffer)
    }

    @Test("Commands are arrays of bulk strings, byte-length prefixed")
    func encoding() {
        var buffer = ByteBuffer()
        RESP.encodeCommand(["SET", "auth:code:é", ""], into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$12\r\nauth:code:é\r\n$0\r\n\r\n")
    }

    @Test("Every RESP2 type decodes")
    func decoding() throws {
        #expect(try decode("+OK\r\n") == .simpleString("OK"))
        #expect(try decode("-ERR wrong\r\n") == .error("ERR wrong"))
        #expect(try decode(":-42\r\n") == .integer(-42))
        #expect(try decode("$5\r\nhe\r\no\r\n") == .bulkString(Array("he\r\no".utf8)), "binary-safe")
        #expect(try decode("$-1\r\n") == .bulkString(nil))
        #expect(try decode("*2\r\n$1\r\na\r\n*1\r\n:1\r\n") == .array([.bulkString([97]), .array([.integer(1)])]))
        #expect(try decode("*-1\r\n") == .array(nil))
    }

    @Test("A partial reply returns nil and leaves the buffer for more bytes")
    func partial() throws {
        for partial in ["+OK", "$5\r\nhel", "*2\r\n$1\r\na\r\n", ":1\r"] {
            var buffer = ByteBuffer(string: partial)
            #expect(try RESP.decode(from: &buffer) == nil)
            #expect(buffer.readableBytes == partial.utf8.count)
        }
    }

    @Test("Malformed replies are protocol errors", arguments: ["?x\r\n", ":abc\r\n", "$-2\r\n", "$3\r\nabcXY"])
    func malformed(text: String) {
        let error = #expect(throws: RedisError.self) { _ = try decode(text) }
        #expect(error?.code == .protocolViolation)
    }

    @Test("Arrays nest at most RESP.maximumDepth levels; deeper replies are errors, not stack overflows")
    func nesting() throws {
        let limit = RESP.maximumDepth
        #expect(try decode(String(repeating: "*1\r\n", count: limit) + ":1\r\n") != nil)
        #expect(throws: RedisError.protocolViolation("nested too deeply")) {
            _ = try decode(String(repeating: "*1\r\n", count: limit + 1) + ":1\r\n")
        }
        #expect(throws: RedisError.protocolViolation("nested too deeply")) { _ = try decode(String(repeating: "*1\r\n", count: 100_000)) }
    }

    @Test(
        "redis:// URLs",
        arguments: [
            ("redis://127.0.0.1", "127.0.0.1", 6379, nil, nil, 0),
            ("redis://localhost:6380/2", "localhost", 6380, nil, nil, 2),
            ("redis://:s%40cret@host:7000", "host", 7000, nil, "s@cret", 0),
            ("redis://pixy:pw@[::1]:6379/1", "::1", 6379, "pixy", "pw", 1),
        ] as [(String, String, Int, String?, String?, Int)])
    func urls(url: String, host: String, port: Int, user: String?, password: String?, database: Int) throws {
        let configuration = try #require(RedisConfiguration(url: url))
        #expect(configuration.host == host && configuration.port == port && configuration.database == database)
        #expect(configuration.username == user && configuration.password == password)
    }

    @Test(
        "Malformed or unsupported URLs are refused", arguments: ["http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h/x"])
    func badURLs(url: String) {
        #expect(RedisConfiguration(url: url) == nil)
    }
}
