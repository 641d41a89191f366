public import Hummingbird
public import NIOCore

/// The request context of every Pixy route: Hummingbird's core storage plus the peer address,
/// which the login throttle uses as the request's source.
public struct PixyRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connected peer (the reverse proxy, when there is one).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// A short, log-safe description of the peer for rate limiting.
    var sourceKey: String { remoteAddress?.ipAddress ?? "unknown" }
}
