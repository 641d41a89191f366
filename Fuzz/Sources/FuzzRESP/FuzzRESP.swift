// Fuzz target: the RESP2 decoder (Sources/PixyRESP/RESP.swift), which reads whatever the Redis
// connection delivers.
//
// Invariants:
// - decoding never crashes; it returns a value, asks for more bytes (leaving the buffer
//   untouched) or throws RedisError with code protocolViolation;
// - a decoded value, encoded again, decodes to the same value and consumes exactly that encoding;
// - every strict prefix of that encoding asks for more bytes and leaves the buffer untouched;
// - a command encoded by `RESP.encodeCommand` decodes to the array of its arguments' bytes;
// - no decoded value nests arrays deeper than `RESP.maximumDepth` (deeper replies once overflowed
//   the stack; libFuzzer's default 4 KiB inputs reach about 1000 levels).
import FuzzSupport
import NIOCore
import PixyRESP

/// The RESP2 wire form of a value (the inverse of the decoder, written independently of it).
func encode(_ value: RESPValue, into buffer: inout ByteBuffer) {
    switch value {
    case .simpleString(let text): buffer.writeString("+\(text)\r\n")
    case .error(let text): buffer.writeString("-\(text)\r\n")
    case .integer(let number): buffer.writeString(":\(number)\r\n")
    case .bulkString(nil): buffer.writeString("$-1\r\n")
    case .bulkString(let bytes?):
        buffer.writeString("$\(bytes.count)\r\n")
        buffer.writeBytes(bytes)
        buffer.writeString("\r\n")
    case .array(nil): buffer.writeString("*-1\r\n")
    case .array(let elements?):
        buffer.writeString("*\(elements.count)\r\n")
        for element in elements { encode(element, into: &buffer) }
    }
}

/// How many arrays deep `value` nests (0 for a scalar).
func depth(of value: RESPValue) -> Int {
    guard case .array(let elements?) = value else { return value == .array(nil) ? 1 : 0 }
    return 1 + (elements.map(depth(of:)).max() ?? 0)
}

func checkRoundTrip(_ value: RESPValue) {
    var encoded = ByteBuffer()
    encode(value, into: &encoded)
    let length = encoded.readableBytes
    var copy = encoded
    do {
        let again = try RESP.decode(from: &copy)
        require(again == value, "re-decoding gave \(String(describing: again)) for \(value)")
        require(copy.readableBytes == 0, "re-decoding left \(copy.readableBytes) of \(length) bytes")
    } catch {
        require(false, "re-decoding \(value) threw \(error)")
    }
    // Strict prefixes need more bytes: every prefix of a short encoding, 32 spread over a long one
    // (checking all would make each input quadratic).
    let cuts = length <= 64 ? Array(0..<length) : (0..<32).map { $0 * length / 32 } + [length - 1]
    for cut in cuts {
        var prefix = encoded.getSlice(at: encoded.readerIndex, length: cut)!
        let before = prefix.readerIndex
        do {
            let partial = try RESP.decode(from: &prefix)
            require(partial == nil, "a \(cut)-byte prefix of a \(length)-byte value decoded to \(String(describing: partial))")
            require(prefix.readerIndex == before, "a prefix that needs more bytes moved the reader")
        } catch {
            require(false, "a \(cut)-byte prefix of a valid value threw \(error)")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = bytes(start, count)
    var buffer = ByteBuffer(bytes: input)
    // Decode values one after another, as the channel handler does.
    while buffer.readableBytes > 0 {
        let before = buffer.readerIndex
        let value: RESPValue?
        do {
            value = try RESP.decode(from: &buffer)
        } catch let error as RedisError where error.code == .protocolViolation {
            break
        } catch {
            require(false, "decode threw something other than a protocol violation: \(error)")
            break
        }
        guard let value else {
            require(buffer.readerIndex == before, "decode asked for more bytes but moved the reader")
            break
        }
        require(buffer.readerIndex > before, "decode returned a value without reading")
        require(depth(of: value) <= RESP.maximumDepth, "decoded arrays nested \(depth(of: value)) deep")
        checkRoundTrip(value)
    }
    // Commands: the input's lines as arguments.
    let arguments = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).prefix(16)
        .map { String(decoding: $0, as: UTF8.self) }
    var command = ByteBuffer()
    RESP.encodeCommand(arguments, into: &command)
    do {
        let decoded = try RESP.decode(from: &command)
        require(decoded == .array(arguments.map { .bulkString(Array($0.utf8)) }), "an encoded command did not decode to its arguments")
        require(command.readableBytes == 0, "an encoded command left bytes behind")
    } catch {
        require(false, "an encoded command threw \(error)")
    }
    return 0
}
