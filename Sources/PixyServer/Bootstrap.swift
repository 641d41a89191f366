public import PixyCore
import PixyModel

/// The first-start bootstrap: with no users at all, an `admin` with a random password.
public enum Bootstrap {
    /// Creates `admin` if the user store is empty; returns the password to print once.
    public static func createAdminIfNeeded(users: any UserStore, passwords: any PasswordHashing, clock: any WallClock) async throws
        -> String?
    {
        guard try await users.allUsers().isEmpty else { return nil }
        let password = SecureRandom.token(byteCount: 18)
        let user = User(
            id: SecureRandom.token(byteCount: 16), username: "admin",
            passwordHash: try await passwords.hash(password), createdAt: clock.now())
        do {
            try await users.save(user)
        } catch let error as StorageError where error.code == .duplicateUsername {
            // Another process sharing the store created it first; its password was printed there.
            return nil
        }
        return password
    }
}
