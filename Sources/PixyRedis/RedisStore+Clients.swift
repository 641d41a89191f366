import Foundation
public import PixyCore
import PixyRESP

/// ClientStore on Redis: clients (`auth:client:<id>`, an index by creation, a fingerprint index).
extension RedisStore: ClientStore {
    /// The client with this id, if registered.
    public func client(withID clientID: ClientID) async throws -> Client? {
        try await get(keys.client(id: clientID.rawValue)).map { try decode($0, through: clientRecords) }
    }

    /// Inserts or replaces a client (and its fingerprint index entry, if any).
    public func save(_ client: Client) async throws {
        let id = client.clientID.rawValue
        var commands = [
            ["SET", keys.client(id: id), try encode(client)],
            ["ZADD", keys.clientIndex, String(client.createdAt.timeIntervalSince1970), id],
        ]
        if let fingerprint = client.registrationFingerprint {
            commands.append(["SET", keys.clientFingerprint(fingerprint), id])
        }
        try await transaction(commands)
    }

    /// `SET … XX`: written only if the key still exists.
    public func replaceIfPresent(_ client: Client) async throws -> Bool {
        try await !send(["SET", keys.client(id: client.clientID.rawValue), try encode(client), "XX"]).isNull
    }

    /// Removes a client; `true` if one was removed.
    public func removeClient(withID clientID: ClientID) async throws -> Bool {
        let id = clientID.rawValue
        guard let existing = try await client(withID: clientID) else { return false }
        let fingerprintKey = existing.registrationFingerprint.map(keys.clientFingerprint) ?? ""
        let removed = try await run(
            RedisScripts.removeClient, keys: [keys.client(id: id), keys.clientIndex, fingerprintKey], arguments: [id])
        return removed == .integer(1)
    }

    /// Every client, ordered by creation.
    public func allClients() async throws -> [Client] {
        let ids = try await members(of: keys.clientIndex)
        return try await values(of: ids.map(keys.client(id:))).map { try decode(Client.self, $0) }
    }

    /// The dynamically registered client with this registration fingerprint, if any.
    public func client(withRegistrationFingerprint fingerprint: String) async throws -> Client? {
        guard let id = try await get(keys.clientFingerprint(fingerprint)),
            let client = try await client(withID: ClientID(id)),
            client.registrationFingerprint == fingerprint
        else { return nil }
        return client
    }
}
