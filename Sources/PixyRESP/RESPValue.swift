/// A value of the Redis serialization protocol, RESP2 (https://redis.io/docs/reference/protocol-spec/).
public enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simpleString(String)
    /// `-ERR …`
    case error(String)
    /// `:42`
    case integer(Int)
    /// `$5 hello`; `nil` for the null bulk string `$-1`.
    case bulkString([UInt8]?)
    /// `*2 …`; `nil` for the null array `*-1`.
    case array([RESPValue]?)

    /// The value as text, for simple and bulk strings.
    public var string: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulkString(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// Whether this is a null bulk string or null array.
    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): return true
        default: return false
        }
    }
}
