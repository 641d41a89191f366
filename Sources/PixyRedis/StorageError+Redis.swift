import PixyCore
import PixyRESP

extension StorageError {
    /// A Redis failure as the store reports it: when Redis could not be reached or the
    /// connection broke (``RedisError/isConnectionFailure``), ``StorageError/Code/unavailable``, so
    /// endpoints answer 503 and clients retry (docs/security.md §10: fail closed, recover by
    /// itself); an error reply, ``StorageError/Code/failed``.
    init(redis error: RedisError) {
        if error.code == .timedOut {
            self = .timedOut("redis: \(error.description)")
        } else {
            self.init(code: error.isConnectionFailure ? .unavailable : .failed, reason: "redis: \(error.description)")
        }
    }
}
