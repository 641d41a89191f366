/// What Pixy needs to know about a Redis before trusting it with durable state
/// (docs/security.md: `maxmemory-policy noeviction`; clients and refresh families must survive a
/// restart).
public struct RedisDeployment: Sendable, Equatable {
    /// `maxmemory_policy` from `INFO memory`.
    public var evictionPolicy: String?
    /// Whether the append-only file is on (`aof_enabled` from `INFO persistence`).
    public var isAppendOnly: Bool
    /// RDB snapshot rules (`CONFIG GET save`); empty when snapshots are off, `nil` when `CONFIG`
    /// is not allowed (managed Redis often renames it).
    public var snapshotRules: String?
    /// `redis_version` from `INFO server`.
    public var version: String?

    /// Whether Redis may evict keys under memory pressure: a client, grant or unexpired code
    /// could silently vanish, so Pixy refuses to start unless told otherwise.
    public var mayEvict: Bool { evictionPolicy != "noeviction" }

    /// Whether nothing at all is persisted: a Redis restart loses every client and refresh family.
    public var isPersistenceOff: Bool { !isAppendOnly && snapshotRules == "" }

    /// Whether `GETDEL` exists (Redis 6.2 and later).
    public var supportsGETDEL: Bool {
        guard let version else { return true }
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return true }
        return parts[0] > 6 || (parts[0] == 6 && parts[1] >= 2)
    }

    /// Reads the fields from `INFO` sections and the `save` rules.
    public static func parse(info: String, snapshotRules: String?) -> RedisDeployment {
        var fields: [Substring: Substring] = [:]
        for line in info.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon]] = line[line.index(after: colon)...]
        }
        return RedisDeployment(
            evictionPolicy: fields["maxmemory_policy"].map(String.init),
            isAppendOnly: fields["aof_enabled"] == "1", snapshotRules: snapshotRules,
            version: fields["redis_version"].map(String.init))
    }
}
