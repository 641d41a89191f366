public import PixyCore
import HummingbirdBcrypt
import NIOPosix

/// bcrypt (docs/security.md §8) on NIO's blocking thread pool: a cost-12 hash takes ~250 ms of CPU,
/// which must never run on an event loop or Swift's cooperative pool.
public struct BcryptPasswordHasher: PasswordHashing {
    /// The bcrypt cost factor (log2 rounds).
    public let cost: UInt8

    /// Creates a hasher; `cost` is clamped to at least 10.
    public init(cost: UInt8 = 12) {
        self.cost = max(cost, 10)
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
