import CoreMetrics
public import Hummingbird
public import Logging
public import PixyCore
public import Prometheus
import Synchronization

/// One server's metrics: a Prometheus registry of its own (never the process-wide default, so
/// two servers or two tests in one process never mix counts), the ``Telemetry`` that writes to
/// it, and the gauges read at scrape time (docs/operations.md, Metrics).
public final class PixyMetrics: Sendable {
    /// Where every series lives.
    public let registry: PrometheusCollectorRegistry
    /// What PixyCore, PixyHTTP and the stores count through.
    public let telemetry: Telemetry
    private let refreshers = Mutex<[@Sendable () -> Void]>([])

    /// Latency buckets, in seconds: a PKCE flow's steps take about a millisecond each, a store
    /// under trouble up to its deadline.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5),
    ]

    /// A fresh registry.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        telemetry = Telemetry(factory: factory)
    }

    /// Runs `refresh` before every scrape (gauges that are read, not counted).
    func onScrape(_ refresh: @escaping @Sendable () -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// The Prometheus text exposition format (version 0.0.4) of every series.
    public func exposition() -> String {
        for refresh in refreshers.withLock({ $0 }) { refresh() }
        return registry.emitToString()
    }

    /// The listener that serves `GET /metrics` on `host:port`, apart from the OAuth endpoints so
    /// that it is never behind OAuth and never public by accident (bind it to a private address).
    public func listener(host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store",
                    .init("X-Content-Type-Options")!: "nosniff",
                ],
                body: .init(byteBuffer: ByteBuffer(string: self.exposition())))
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "pixy-metrics"),
            onServerRunning: { channel in
                logger.info("metrics listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(host):\(port)")"])
                if !["127.0.0.1", "::1", "localhost"].contains(host) {
                    logger.warning(
                        "metrics are served without authentication on a non-loopback address: make sure only your scraper reaches it",
                        metadata: ["address": "\(host):\(port)"])
                }
            },
            logger: logger)
    }
}
