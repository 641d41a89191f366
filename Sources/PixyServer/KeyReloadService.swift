import PixyJWT
import Logging
import ServiceLifecycle

/// Reloads the signing keys now and then, so `pixy keys rotate` (run against the same store)
/// takes effect without a restart. Stops with the application (graceful shutdown).
struct KeyReloadService: Service {
    let keys: SigningKeys
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Graceful shutdown (SIGTERM, or the end of a test) must end the loop, not only cancellation.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                do {
                    if try await keys.reload() {
                        logger.notice("signing keys reloaded", metadata: ["kid": "\(keys.currentKeyID)"])
                    }
                } catch {
                    logger.error("reloading signing keys failed; keeping the current ones", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
