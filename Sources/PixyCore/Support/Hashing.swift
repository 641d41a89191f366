public import PixyModel
import Crypto

/// Only hashes of codes, session ids and client secrets are stored (docs/security.md §10): a leaked
/// database or Redis dump then yields no usable credential.
public enum SecretHash {
    /// Lower-case hex SHA-256 of the UTF-8 bytes of `value`.
    public static func sha256Hex(_ value: String) -> String {
        let digest = SHA256.hash(data: Array(value.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `presented` hashes to `storedHash`, compared in constant time.
    public static func matches(_ presented: String, storedHash: String) -> Bool {
        ConstantTime.isEqual(sha256Hex(presented), storedHash)
    }
}
