import PixyCore
import PixyPostgres
import Synchronization
import Testing

/// A gate a test opens by hand: what a query stuck on a dead connection looks like to the
/// deadline (it ignores cancellation and ends only when the test says so).
private final class Gate: Sendable {
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]?>([])

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = waiters.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        for continuation in waiters.withLock({ $0.take() }) ?? [] { continuation.resume() }
    }
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Every PostgreSQL operation runs under `withDeadline` (Sources/PixyPostgres/PostgresStore.swift):
/// docs/security.md §10, a store that does not answer fails closed instead of holding the request.
@Suite("PostgreSQL operation deadline")
struct PostgresDeadlineTests {
    @Test("docs/security.md §10: an operation that never answers fails as timed out without waiting for it")
    func stuckOperationTimesOut() async throws {
        let gate = Gate()
        let finished = Flag()
        // Only if the deadline is broken: the stuck body ends after a minute, so the test fails
        // below instead of hanging.
        let fallback = Task {
            try await Task.sleep(for: .seconds(60))
            gate.open()
        }
        defer { fallback.cancel() }
        let error = await #expect(throws: StorageError.self) {
            _ = try await withDeadline(.milliseconds(50)) { () async throws -> Int in
                await gate.wait()  // ignores cancellation, like a query on a dead connection
                finished.set()
                return 1
            }
        }
        #expect(error?.isTimeout == true, "timed out, not refused: \(String(describing: error))")
        #expect(!finished.isSet, "the caller did not wait for the stuck body")
        gate.open()
    }

    @Test("docs/security.md §10: a timeout that fires before the caller waits is delivered, not dropped")
    func earlyTimeoutIsKept() async throws {
        let waiter = DeadlineWaiter<Int>()
        waiter.resume(with: .failure(StorageError.timedOut("early")))
        waiter.resume(with: .success(1))  // a later result never replaces the first
        // Only if the early result were dropped: answer after a minute, so the test fails below
        // instead of hanging.
        let fallback = Task {
            try await Task.sleep(for: .seconds(60))
            waiter.resume(with: .success(2))
        }
        defer { fallback.cancel() }
        let error = await #expect(throws: StorageError.self) {
            _ = try await withCheckedThrowingContinuation { waiter.set($0) }
        }
        #expect(error?.isTimeout == true)
    }

    @Test("An operation that answers in time returns its value or its own error")
    func answersPassThrough() async throws {
        #expect(try await withDeadline(.seconds(60)) { 42 } == 42)
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            _ = try await withDeadline(.seconds(60)) { () async throws -> Int in throw Refused() }
        }
    }

    @Test("The deadline watch fires each due alarm once, and never a disarmed or a later one")
    func deadlineWatchFiresDueAlarms() async throws {
        let watch = DeadlineWatch(tick: .seconds(3600))  // its own ticker never wakes in this test
        let start = ContinuousClock.now
        let disarmed = Flag()
        let later = Flag()
        let fired = Mutex(0)
        let early = watch.arm(at: start + .milliseconds(1)) { disarmed.set() }
        watch.disarm(early)
        _ = watch.arm(at: start + .milliseconds(10)) { fired.withLock { $0 += 1 } }
        let pending = watch.arm(at: start + .seconds(7200)) { later.set() }
        #expect(!watch.fireDue(at: start + .seconds(3600)), "one alarm is still armed")
        #expect(!watch.fireDue(at: start + .seconds(3600)), "a fired alarm does not fire again")
        #expect(fired.withLock { $0 } == 1)
        #expect(!disarmed.isSet)
        #expect(!later.isSet)
        #expect(watch.armedCount == 1)
        watch.disarm(pending)
        #expect(watch.armedCount == 0, "nothing is left behind")
        #expect(watch.fireDue(at: start + .seconds(10800)), "with none armed, the watch stops")
        #expect(!later.isSet)
    }

    @Test("The deadline watch stops ticking when no alarm is armed, and starts again with the next")
    func deadlineWatchRestarts() async throws {
        let watch = DeadlineWatch(tick: .milliseconds(5))
        for _ in 0..<3 {
            let gate = Gate()
            let fired = Flag()
            _ = watch.arm(at: .now + .milliseconds(10)) {
                fired.set()
                gate.open()
            }
            #expect(watch.isTicking)
            // Only if the watch failed to start again: open the gate after a minute, so the test
            // fails below instead of hanging.
            let fallback = Task {
                try await Task.sleep(for: .seconds(60))
                gate.open()
            }
            defer { fallback.cancel() }
            await gate.wait()
            #expect(fired.isSet, "the alarm fired")
            // The stop is decided under the lock before the alarm runs, so it is visible here.
            #expect(!watch.isTicking, "the last alarm fired, so the watch stopped")
            #expect(watch.armedCount == 0)
        }
    }

    @Test("Cancelling the caller cancels the operation")
    func callerCancellationReachesTheBody() async throws {
        let started = Gate()
        let sawCancellation = Flag()
        let caller = Task {
            try await withDeadline(.seconds(60)) { () async throws -> Int in
                started.open()
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch is CancellationError {
                    sawCancellation.set()
                    throw CancellationError()
                }
                return 1
            }
        }
        await started.wait()
        caller.cancel()
        await #expect(throws: CancellationError.self) { _ = try await caller.value }
        #expect(sawCancellation.isSet)
    }
}
