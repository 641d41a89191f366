public import Foundation
import PixyModel
import Synchronization

/// Whether the stores answer, for `/ready` (docs/operations.md, "Health and readiness"): one read
/// of the durable store and one of the ephemeral store. However often a load balancer asks, the
/// stores are probed at most once per ``interval``, one probe at a time, so `/ready` (which anyone
/// can call) never adds load beyond that.
public final class StoreReadiness: Sendable {
    /// The answer of a probe.
    public enum State: Sendable, Equatable {
        /// Both stores answered.
        case ready
        /// A store failed or did not answer in time; the reason is for the log.
        case unavailable(reason: String)
    }

    let stores: PixyStores
    let clock: any WallClock
    /// How long a probe's answer is reused.
    public let interval: TimeInterval
    /// How long a probe waits for the stores.
    public let deadline: Duration
    private let last = Mutex<(state: State, at: Date)?>(nil)
    private let running = Mutex<Task<State, Never>?>(nil)

    /// Creates the check.
    public init(stores: PixyStores, clock: any WallClock, interval: TimeInterval = 1, deadline: Duration = .seconds(3)) {
        self.stores = stores
        self.clock = clock
        self.interval = interval
        self.deadline = deadline
    }

    /// The stores' state, probed now or at most ``interval`` ago.
    public func state() async -> State {
        if let last = last.withLock({ $0 }), clock.now().timeIntervalSince(last.at) < interval { return last.state }
        let probe = running.withLock { running in
            if let running { return running }
            let started = Task {
                let state = await self.probe()
                self.last.withLock { $0 = (state, self.clock.now()) }
                self.running.withLock { $0 = nil }
                return state
            }
            running = started
            return started
        }
        return await probe.value
    }

    /// Reads a client that cannot exist and a session that cannot exist: each store must answer
    /// (with nothing) within ``deadline``. The task group waits for its cancelled read, so a store
    /// call that ignores cancellation holds the probe until that store's own deadline.
    private func probe() async -> State {
        let stores = self.stores
        let deadline = self.deadline
        return await withTaskGroup(of: State?.self) { group in
            group.addTask {
                do {
                    _ = try await stores.clients.client(withID: "pixy-readiness-probe")
                    _ = try await stores.interactions.session(key: "readiness-probe")
                    return .ready
                } catch {
                    return .unavailable(reason: "a store failed: \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: deadline)
                return Task.isCancelled ? nil : .unavailable(reason: "a store did not answer within \(deadline)")
            }
            defer { group.cancelAll() }
            while let answer = await group.next() {
                if let answer { return answer }
            }
            return .unavailable(reason: "the probe was cancelled")
        }
    }
}
