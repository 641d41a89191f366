import Foundation
import PixyCore
import PixyModel
import PixyRedis
import PixyRESP
import PixyTesting

/// A Redis store on the test process's shared real `redis-server`, under a fresh key prefix so
/// tests running in parallel never see each other's keys.
func redisStore(clock: ManualClock, prefix: String = "test-\(UUID().uuidString):") -> RedisStore {
    RedisStore(configuration: RedisConfiguration(url: RedisServer.shared.url)!, prefix: prefix, clock: clock)
}
