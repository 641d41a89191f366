/// An error reply from Redis, or a failure to talk to it.
///
/// Callers decide by ``code`` (and, for an error reply, by ``replyCode``), never by the text:
/// two errors are equal when their codes are, whatever their ``reason``.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; stable, for decisions.
    public let code: Code
    /// What happened, in words, for logs. For an error reply, the reply's whole text.
    public let reason: String
    /// For an error reply (``Code/serverError``), its error code as Redis defines it: the first
    /// word of the reply, e.g. `ERR`, `WRONGTYPE`, `NOSCRIPT`, or a script's own
    /// (`redis.error_reply`). `nil` for every other code.
    public let replyCode: String?

    private init(code: Code, reason: String, replyCode: String? = nil) {
        self.code = code
        self.reason = reason
        self.replyCode = replyCode
    }

    /// The ``reason``.
    public var description: String { reason }

    /// Whether the connection is unusable afterwards: every code but ``Code/serverError`` (an
    /// error reply leaves the connection in step and usable).
    public var isConnectionFailure: Bool { code != .serverError }

    /// Equal when the codes are: the reason is for people, not for decisions.
    public static func == (lhs: RedisError, rhs: RedisError) -> Bool {
        lhs.code == rhs.code
    }

    /// Hashes the code only, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    /// No connection could be made, or it broke (``Code/connectionFailed``).
    public static func connectionFailed(_ reason: String) -> RedisError {
        RedisError(code: .connectionFailed, reason: reason)
    }

    /// A reply took longer than the command timeout (``Code/timedOut``).
    public static func timedOut(_ reason: String) -> RedisError {
        RedisError(code: .timedOut, reason: reason)
    }

    /// The connection closed before the reply came (``Code/connectionClosed``).
    public static func connectionClosed(_ reason: String) -> RedisError {
        RedisError(code: .connectionClosed, reason: reason)
    }

    /// The bytes received are not RESP, or not a reply to anything (``Code/protocolViolation``).
    public static func protocolViolation(_ reason: String) -> RedisError {
        RedisError(code: .protocolViolation, reason: reason)
    }

    /// A connection attempt failed moments ago; no new attempt is made before its backoff
    /// delay ends (``Code/backingOff``).
    public static func backingOff(_ reason: String) -> RedisError {
        RedisError(code: .backingOff, reason: reason)
    }

    /// An error reply (``Code/serverError``): `message` is its text after the `-`, whose first
    /// word becomes ``replyCode``.
    public static func serverError(_ message: String) -> RedisError {
        let word = message.prefix { $0 != " " && $0 != "\r" && $0 != "\n" }
        return RedisError(code: .serverError, reason: message, replyCode: String(word))
    }
}

extension RedisError {
    /// The stable identity of a ``RedisError``. New codes may be added, so a `switch` over codes
    /// needs a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: String, Sendable, Hashable {
            case connectionFailed, timedOut, connectionClosed, protocolViolation, backingOff, serverError
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// No connection could be made (refused, unreachable, a failed TLS handshake, an
        /// unreadable CA file), or it broke while in use. (A refused `AUTH` is an error reply,
        /// ``serverError``.)
        public static let connectionFailed = Code(.connectionFailed)
        /// A reply took longer than the command timeout; the connection is closed, since later
        /// replies could no longer be matched to their commands.
        public static let timedOut = Code(.timedOut)
        /// The connection closed with the command still waiting for its reply.
        public static let connectionClosed = Code(.connectionClosed)
        /// Malformed RESP, or a reply nobody asked for.
        public static let protocolViolation = Code(.protocolViolation)
        /// Redis was unreachable moments ago and the pool is waiting before it tries again.
        public static let backingOff = Code(.backingOff)
        /// Redis answered with an error reply; see ``RedisError/replyCode``.
        public static let serverError = Code(.serverError)

        /// The code's name, e.g. `timedOut`.
        public var description: String { backing.rawValue }
    }
}
