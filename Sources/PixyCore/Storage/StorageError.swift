/// A storage failure. Pixy fails closed on it (docs/security.md §10).
///
/// Callers decide by ``code``, never by the text: two storage errors are equal when their codes
/// are, whatever their ``reason``, so `#expect(throws: StorageError.duplicateUsername)` and
/// `catch let error as StorageError where error.code == .duplicateUsername` both work.
public struct StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; stable, for decisions.
    public let code: Code
    /// What failed, in words, for logs.
    public let reason: String
    /// Whether the store did not answer in time (a command or query deadline passed), as opposed
    /// to refusing or dropping the connection: counted apart in the store metrics
    /// (docs/operations.md, Metrics). Always ``Code/unavailable``.
    public let isTimeout: Bool

    /// Creates a storage error with `code` and a `reason` for logs.
    public init(code: Code, reason: String) {
        self.code = code
        self.reason = reason
        self.isTimeout = false
    }

    private init(timeout reason: String) {
        self.code = .unavailable
        self.reason = reason
        self.isTimeout = true
    }

    /// The ``reason``: what is logged and what a command-line tool prints.
    public var description: String { reason }

    /// Whether the store could not be reached at all (a network store's outage), as opposed to
    /// refusing an operation: endpoints then answer 503 and the client may retry.
    public var isUnavailable: Bool { code == .unavailable }

    /// Equal when the codes are: the reason is for people, not for decisions.
    public static func == (lhs: StorageError, rhs: StorageError) -> Bool {
        lhs.code == rhs.code
    }

    /// Hashes the code only, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    /// An insert found the key taken (e.g. a colliding code hash, or a grant id that exists).
    public static let duplicateKey = StorageError(code: .duplicateKey, reason: "duplicate key")
    /// A username is already taken by another user.
    public static let duplicateUsername = StorageError(code: .duplicateUsername, reason: "username already exists")

    /// The store cannot be reached right now (``Code/unavailable``).
    public static func unavailable(_ reason: String) -> StorageError {
        StorageError(code: .unavailable, reason: reason)
    }

    /// The store did not answer within its deadline: ``Code/unavailable`` with ``isTimeout`` set.
    public static func timedOut(_ reason: String) -> StorageError {
        StorageError(timeout: reason)
    }

    /// The store refused or failed the operation (``Code/failed``).
    public static func failed(_ reason: String) -> StorageError {
        StorageError(code: .failed, reason: reason)
    }

    /// A stored record could not be read back (``Code/corruptRecord``).
    public static func corruptRecord(_ reason: String) -> StorageError {
        StorageError(code: .corruptRecord, reason: reason)
    }
}

extension StorageError {
    /// The stable identity of a ``StorageError``. New codes may be added, so a `switch` over
    /// codes needs a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: String, Sendable, Hashable {
            case duplicateKey, duplicateUsername, unavailable, failed, corruptRecord
        }

        private let backing: Backing

        private init(_ backing: Backing) {
            self.backing = backing
        }

        /// An insert found its key taken.
        public static let duplicateKey = Code(.duplicateKey)
        /// A username is already taken by another user.
        public static let duplicateUsername = Code(.duplicateUsername)
        /// The store cannot be reached: a temporary outage (503, retry later).
        public static let unavailable = Code(.unavailable)
        /// The store refused or failed the operation: not temporary.
        public static let failed = Code(.failed)
        /// A stored record could not be decoded.
        public static let corruptRecord = Code(.corruptRecord)

        /// The code's name, e.g. `duplicateKey`.
        public var description: String { backing.rawValue }
    }
}
