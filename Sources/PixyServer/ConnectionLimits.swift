import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import PixyCore
#if canImport(Glibc)
    import Glibc
#endif

/// What an unauthenticated peer may hold open (docs/operations.md, "connection limits"): without
/// these, half-open or idle connections stay forever and a peer that announces a large body and
/// trickles it holds a connection as long as it likes.
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection with no request bytes for this long is closed (also bounds the TLS handshake,
    /// which reads no request at all).
    public var idleTimeout: Duration = .seconds(30)
    /// From the first byte of a request's head to the last byte of its body: a request that takes
    /// longer is cut off, however steadily it trickles.
    public var requestTimeout: Duration = .seconds(30)
    /// Connections open at once; past it, new ones wait in the listen backlog. `nil` picks three
    /// quarters of the process's file-descriptor limit.
    public var maximumConnections: Int?
    /// Largest request head (request line and headers).
    public var maximumHeadBytes = 32 * 1024

    /// The defaults.
    public init() {}

    /// ``maximumConnections``, or three quarters of `RLIMIT_NOFILE` (at least 64), so the process
    /// keeps descriptors for its store, logs and outgoing fetches.
    public var effectiveMaximumConnections: Int {
        if let maximumConnections { return maximumConnections }
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 4096 }
        return max(64, Int(min(limit.rlim_cur, 1 << 20)) * 3 / 4)
    }

    /// Hummingbird's HTTP/1.1 channel with these limits.
    var http1Configuration: HTTP1Channel.Configuration {
        let requestTimeout = TimeAmount.nanoseconds(Int64(requestTimeout.timeInterval * 1_000_000_000))
        var configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestDeadlineHandler(timeout: requestTimeout)],
            idleTimeout: .nanoseconds(Int64(idleTimeout.timeInterval * 1_000_000_000)))
        configuration.httpDecoder = .init(
            maxHeaderFieldSize: maximumHeadBytes, maxHeaderListSize: maximumHeadBytes, maxHeaderFieldCount: 100)
        return configuration
    }
}

/// Closes the connection when a request's head and body have not both arrived within `timeout`
/// of its first part. Hummingbird's idle timeout catches a peer that stops sending; this catches
/// one that keeps sending a byte now and then.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
