public import struct Foundation.Date

/// The source of "now" for every expiry decision. Injected so that expiry is tested with a manual
/// clock instead of `sleep`, and never read directly inside OAuth logic.
public protocol WallClock: Sendable {
    /// The current instant.
    func now() -> Date
}

/// The system's wall clock.
public struct SystemWallClock: WallClock {
    /// Creates the system clock.
    public init() {}
    /// `Date()`.
    public func now() -> Date { Date() }
}

extension Duration {
    /// The duration in whole and fractional seconds, for arithmetic with `Date`.
    public var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
