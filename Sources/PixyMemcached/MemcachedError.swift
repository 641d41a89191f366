/// A failure to talk to Memcached, or an error reply from it.
///
/// Callers decide by ``code``, never by the text: two errors are equal when their codes are.
public struct MemcachedError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; stable, for decisions.
    public let code: Code
    /// What happened, in words, for logs.
    public let reason: String

    /// The ``reason``.
    public var description: String { reason }

    /// Equal when the codes are.
    public static func == (lhs: MemcachedError, rhs: MemcachedError) -> Bool { lhs.code == rhs.code }

    /// Hashes the code only, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// Whether a later attempt may succeed: everything but ``Code/refused``. The store reports
    /// these as unavailable (503, retry); a refusal is a failure.
    public var isTemporary: Bool { code != .refused }

    /// No connection could be made, or it broke.
    public static func connectionFailed(_ reason: String) -> MemcachedError { MemcachedError(code: .connectionFailed, reason: reason) }
    /// A reply took longer than the command timeout; the connection is closed.
    public static func timedOut(_ reason: String) -> MemcachedError { MemcachedError(code: .timedOut, reason: reason) }
    /// Bytes that are not a meta-protocol reply.
    public static func protocolViolation(_ reason: String) -> MemcachedError { MemcachedError(code: .protocolViolation, reason: reason) }
    /// The server was unreachable moments ago; no new attempt before the backoff ends.
    public static func backingOff(_ reason: String) -> MemcachedError { MemcachedError(code: .backingOff, reason: reason) }
    /// `SERVER_ERROR …`: the server could not do it now (e.g. out of memory with `-M`).
    public static func serverError(_ reason: String) -> MemcachedError { MemcachedError(code: .serverError, reason: reason) }
    /// `ERROR`, `CLIENT_ERROR …`, or a server Pixy cannot be correct on: not temporary.
    public static func refused(_ reason: String) -> MemcachedError { MemcachedError(code: .refused, reason: reason) }

    /// The stable identity of a ``MemcachedError``.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// See ``MemcachedError/connectionFailed(_:)``.
        public static let connectionFailed = Code("connectionFailed")
        /// See ``MemcachedError/timedOut(_:)``.
        public static let timedOut = Code("timedOut")
        /// See ``MemcachedError/protocolViolation(_:)``.
        public static let protocolViolation = Code("protocolViolation")
        /// See ``MemcachedError/backingOff(_:)``.
        public static let backingOff = Code("backingOff")
        /// See ``MemcachedError/serverError(_:)``.
        public static let serverError = Code("serverError")
        /// See ``MemcachedError/refused(_:)``.
        public static let refused = Code("refused")
        /// The code's name.
        public var description: String { name }
    }
}
