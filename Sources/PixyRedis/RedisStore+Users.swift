import Foundation
public import PixyCore
import PixyRESP

/// UserStore on Redis: users (`auth:user:<id>`, `auth:username:<name>`, an index by creation).
extension RedisStore: UserStore {
    /// The user with this login name, if any.
    public func user(named username: String) async throws -> User? {
        guard let id = try await get(keys.username(username)) else { return nil }
        return try await user(withID: id)
    }

    /// The user with this subject id, if any.
    public func user(withID id: String) async throws -> User? {
        try await get(keys.user(id: id)).map { try decode($0, through: userRecords) }
    }

    /// One script: refuses a username another user holds, frees a renamed user's old name.
    public func save(_ user: User) async throws {
        let reply = try await run(
            RedisScripts.saveUser, keys: [keys.user(id: user.id), keys.username(user.username), keys.userIndex],
            arguments: [user.id, try encode(user), String(user.createdAt.timeIntervalSince1970), keys.username("")],
            replyCodes: [RedisScripts.duplicateUsernameReply: .duplicateUsername])
        guard reply == .integer(1) else { throw StorageError.failed("redis: unexpected reply saving a user") }
    }

    /// Removes a user by login name; `true` if one was removed.
    public func removeUser(named username: String) async throws -> Bool {
        try await run(RedisScripts.removeUser, keys: [keys.username(username), keys.userIndex], arguments: [keys.user(id: "")])
            == .integer(1)
    }

    /// Every user, ordered by creation.
    public func allUsers() async throws -> [User] {
        let ids = try await members(of: keys.userIndex)
        return try await values(of: ids.map(keys.user(id:))).map { try decode(User.self, $0) }
    }
}
