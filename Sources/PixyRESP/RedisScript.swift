import Crypto

/// A Lua script run atomically by Redis with `EVALSHA`.
///
/// The SHA-1 is computed here, so no `SCRIPT LOAD` round trip is needed up front; when Redis does
/// not know the script yet (first use, or after a restart, since scripts are not persisted) it
/// answers `NOSCRIPT` and the script is sent once with `EVAL`, which also caches it.
public struct RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    /// The source's SHA-1 in hex, the name `EVALSHA` uses.
    public let sha: String

    /// A script with this Lua source.
    public init(_ source: String) {
        self.source = source
        sha = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Runs the script with `keys` and `arguments`: `EVALSHA`, then `EVAL` once if Redis answers
    /// `NOSCRIPT`. An error reply (including one the script raises) throws ``RedisError``.
    public func run(on pool: RedisConnectionPool, keys: [String], arguments: [String]) async throws -> RESPValue {
        let tail = [String(keys.count)] + keys + arguments
        do {
            return try await pool.send(["EVALSHA", sha] + tail)
        } catch let error as RedisError where error.replyCode == "NOSCRIPT" {
            return try await pool.send(["EVAL", source] + tail)
        }
    }
}
