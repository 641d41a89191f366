public import Foundation

/// A failure of the client side, with a stable code for programs and a message for people.
public struct PixyClientError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// A stable identifier, e.g. `discovery_failed` or `iss_mismatch`.
    public var code: String
    /// What went wrong, in a sentence.
    public var message: String

    /// Creates an error.
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// The same as ``description``, for code that shows `localizedDescription`.
    public var errorDescription: String? { description }

    static func discovery(_ message: String) -> Self { .init("discovery_failed", message) }
    static func registration(_ message: String) -> Self { .init("registration_failed", message) }
    static func authorization(_ message: String) -> Self { .init("authorization_failed", message) }
    static func token(_ message: String) -> Self { .init("token_request_failed", message) }
    static func tokenFile(_ message: String) -> Self { .init("token_file", message) }
}
