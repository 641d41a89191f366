public import CoreMetrics
import Synchronization

/// A swift-metrics factory that records which counters were incremented, as `name{k=v,…}`: for
/// tests of code that counts through an injected factory (PixyCore's `Telemetry`, PixyResource's
/// bearer middleware). Gauges and timers are accepted and ignored.
public final class RecordingFactory: MetricsFactory, Sendable {
    private let increments = Mutex<[String]>([])

    /// An empty recorder.
    public init() {}

    /// Every increment, in order.
    public var counted: [String] { increments.withLock { $0 } }

    /// The handler of every metric: counts increments under its key.
    public final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let key: String
        let factory: RecordingFactory
        init(key: String, factory: RecordingFactory) {
            self.key = key
            self.factory = factory
        }
        /// Records one increment under the key.
        public func increment(by amount: Int64) { factory.increments.withLock { $0.append(key) } }
        /// Ignored.
        public func reset() {}
        /// Ignored.
        public func record(_ value: Int64) {}
        /// Ignored.
        public func record(_ value: Double) {}
        /// Ignored.
        public func recordNanoseconds(_ duration: Int64) {}
    }

    private func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.isEmpty ? label : label + "{" + dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A handler keyed `label{k=v,…}`.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: key(label, dimensions), factory: self)
    }
    /// A handler keyed `label{k=v,…}`.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: key(label, dimensions), factory: self)
    }
    /// A handler keyed `label{k=v,…}`.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: key(label, dimensions), factory: self)
    }
    /// Nothing to release.
    public func destroyCounter(_ handler: any CounterHandler) {}
    /// Nothing to release.
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    /// Nothing to release.
    public func destroyTimer(_ handler: any TimerHandler) {}
}
