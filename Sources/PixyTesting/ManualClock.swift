public import PixyCore
public import Foundation
import Synchronization

/// A clock that moves only when told: expiry is tested by advancing it, never by sleeping.
public final class ManualClock: WallClock {
    private let current: Mutex<Date>

    /// Starts at `date` (default: a fixed instant, so runs are reproducible).
    public init(_ date: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(date)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward by `duration`.
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.addingTimeInterval(duration.timeInterval) }
    }
}
