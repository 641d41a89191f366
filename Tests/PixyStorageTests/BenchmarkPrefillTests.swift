import Foundation
import PixyCore
import PixyServer
import PixyTesting
import Testing

/// The prefill behind `Benchmarks/bench-flows` with `BENCH_MODE=flat` (docs/performance.md, "Flat
/// cost") writes exactly what it says, as live entries that expire like real ones.
@Suite("Benchmark prefill: the live codes and sessions the flat-cost benchmark measures")
struct BenchmarkPrefillTests {
    @Test("It stores the asked number of codes and sessions, live for its lifetime and swept after")
    func storesWhatItSays() async throws {
        let clock = ManualClock()
        let store = InMemoryStore(clock: clock)
        var prefill = BenchmarkPrefill(codes: 300, sessions: 200)
        prefill.concurrency = 7  // not a divisor of either count: every index is still written once
        let filled = try await prefill.run(into: PixyStores(store), issuer: "http://127.0.0.1:8080", clock: clock)
        #expect(filled.codes == 300 && filled.sessions == 200)
        #expect(store.heldCounts.entries == 500, "300 distinct code hashes and 200 distinct session keys")
        clock.advance(by: prefill.lifetime + .seconds(1))
        for index in 0..<10 {
            try await store.saveSession(
                BrowserSession(csrfToken: "t", expiresAt: clock.now().addingTimeInterval(60)), key: "after-\(index)",
                ttl: .seconds(60))
        }
        #expect(store.heldCounts.entries == 10, "the prefilled records expired like real ones")
    }
}
