/// Hashes and checks user passwords. The implementation (bcrypt, docs/security.md §8) runs the slow
/// work off the event loop; PixyCore only needs the two operations.
public protocol PasswordHashing: Sendable {
    /// A new salted hash of `password`.
    func hash(_ password: String) async throws -> String
    /// Whether `password` matches `hash`.
    func verify(_ password: String, hash: String) async throws -> Bool
}
