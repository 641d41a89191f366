import PixyCore
public import PixyRESP

extension RedisStore {
    /// Asks Redis how it is configured (`INFO`, `CONFIG GET save`).
    public func inspectDeployment() async throws -> RedisDeployment {
        var info = ""
        for section in ["server", "memory", "persistence"] {
            guard let text = try await pool.send(["INFO", section]).string else { throw StorageError.failed("redis: INFO reply") }
            info += text + "\n"
        }
        var snapshotRules: String?
        if case .array(let pair?) = try? await pool.send(["CONFIG", "GET", "save"]), pair.count == 2 {
            snapshotRules = pair[1].string
        }
        return RedisDeployment.parse(info: info, snapshotRules: snapshotRules)
    }
}
