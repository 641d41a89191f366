public import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A one-route HTTP server on 127.0.0.1 and an ephemeral port that receives authorization
/// responses (RFC 8252 §7.3). It completes a pending sign-in only for a request on its callback
/// path whose `state` it is waiting for; anything else (a favicon, a stale or forged response) is
/// answered and ignored, so it cannot end a sign-in.
public final class LoopbackRedirectListener: Sendable {
    /// The redirect URI to register and send: `http://127.0.0.1:<port>/callback`.
    public let redirectURI: URL
    private let channel: any Channel
    private let waiting: NIOLockedValueBox<[String: EventLoopPromise<URL>]>

    private init(channel: any Channel, redirectURI: URL, waiting: NIOLockedValueBox<[String: EventLoopPromise<URL>]>) {
        self.channel = channel
        self.redirectURI = redirectURI
        self.waiting = waiting
    }

    /// The path of the callback route.
    public static let callbackPath = "/callback"

    /// Binds 127.0.0.1 on a port the system picks (RFC 8252 §7.3: loopback IP literal, any port).
    public static func start() async throws -> LoopbackRedirectListener {
        let waiting = NIOLockedValueBox<[String: EventLoopPromise<URL>]>([:])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(CallbackHandler(waiting: waiting))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        return LoopbackRedirectListener(
            channel: channel, redirectURI: URL(string: "http://127.0.0.1:\(port)\(callbackPath)")!, waiting: waiting)
    }

    /// Starts waiting for the authorization response carrying `state`, before the browser is
    /// sent anywhere, so that no response can arrive unexpected.
    public func expectResponse(state: String) -> PendingAuthorizationResponse {
        let promise = channel.eventLoop.makePromise(of: URL.self)
        waiting.withLockedValue { $0[state] = promise }
        return PendingAuthorizationResponse(promise: promise) { [waiting] in
            waiting.withLockedValue { $0.removeValue(forKey: state) }?.fail(CancellationError())
        }
    }

    /// Stops listening; pending waits end with `CancellationError`.
    public func close() {
        let pending = waiting.withLockedValue { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
        for promise in pending { promise.fail(CancellationError()) }
        channel.close(promise: nil)
    }

    private final class CallbackHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let waiting: NIOLockedValueBox<[String: EventLoopPromise<URL>]>

        init(waiting: NIOLockedValueBox<[String: EventLoopPromise<URL>]>) { self.waiting = waiting }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let port = context.channel.localAddress?.port ?? 0
            let url = URL(string: "http://127.0.0.1:\(port)\(head.uri)")
            let components = url.flatMap { URLComponents(url: $0, resolvingAgainstBaseURL: false) }
            var continuation: EventLoopPromise<URL>?
            if head.method == .GET, components?.path == LoopbackRedirectListener.callbackPath,
                let state = components?.queryItems?.first(where: { $0.name == "state" })?.value
            {
                continuation = waiting.withLockedValue { $0.removeValue(forKey: state) }
            }
            let status: HTTPResponseStatus
            let page: String
            if let continuation, let url {
                let failed = components?.queryItems?.contains { $0.name == "error" } ?? false
                status = .ok
                page =
                    failed
                    ? "Sign-in was not completed. You can close this tab."
                    : "Sign-in received. You can close this tab and return to the application."
                continuation.succeed(url)
            } else {
                status = .notFound
                page = "This is not a sign-in this app is waiting for."
            }
            let html = "<!doctype html><meta charset=\"utf-8\"><title>Pixy</title><p>\(page)</p>"
            let headers = HTTPHeaders([
                ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(html.utf8.count)), ("Connection", "close"),
                ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
            ])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: html)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// An authorization response the listener is waiting for.
public struct PendingAuthorizationResponse: Sendable {
    let promise: EventLoopPromise<URL>
    let cancel: @Sendable () -> Void

    /// The response's full URL, once the browser brings it.
    public var url: URL {
        get async throws {
            try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                cancel()
            }
        }
    }
}
