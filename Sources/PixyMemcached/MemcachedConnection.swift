public import NIOCore
public import NIOPosix
public import PixyPipeline

/// A command: its bytes (CRLF included) and the promise its reply completes.
public struct MemcachedCommand: Sendable, PipelinedCommand {
    /// The whole command.
    public var bytes: [UInt8]
    /// Completed with the reply; an error line fails it.
    public var reply: EventLoopPromise<MemcachedReply>

    /// Writes the bytes as they are.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes(bytes)
    }

    /// ``MemcachedError`` for each failure (all temporary: the store reports them as unavailable).
    public static func error(_ failure: PipelineFailure, _ detail: String) -> any Error {
        switch failure {
        case .timedOut: MemcachedError.timedOut("memcached \(detail)")
        case .connectionError, .connectionClosed: MemcachedError.connectionFailed(detail)
        case .protocolViolation: MemcachedError.protocolViolation(detail)
        }
    }

    /// The decoder's errors are ``MemcachedError/Code/protocolViolation``.
    public static func isProtocolViolation(_ error: any Error) -> Bool {
        (error as? MemcachedError)?.code == .protocolViolation
    }

    /// `SERVER_ERROR …` fails the command as temporary; `ERROR` and `CLIENT_ERROR …` as refused.
    public static func failure(for reply: MemcachedReply) -> (any Error)? {
        let line = ([reply.status] + reply.flags).joined(separator: " ")
        switch reply.status {
        case "SERVER_ERROR": return MemcachedError.serverError(line)
        case "ERROR", "CLIENT_ERROR": return MemcachedError.refused(line)
        default: return nil
        }
    }
}

/// Completes memcached commands with their replies, in order (see ``PipelinedCommandHandler``).
typealias MemcachedCommandHandler = PipelinedCommandHandler<MemcachedCommand>

/// One connection to one Memcached server; commands may be sent concurrently and are pipelined.
public final class MemcachedConnection: Sendable, PipelinedConnection {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `server`.
    public static func connect(
        to server: MemcachedConfiguration.Server, commandTimeout: Duration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MemcachedConnection {
        let timeout = TimeAmount.nanoseconds(
            Int64(commandTimeout.components.seconds) * 1_000_000_000 + Int64(commandTimeout.components.attoseconds / 1_000_000_000))
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(2))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MemcachedReplyDecoder()))
                        try channel.pipeline.syncOperations.addHandler(MemcachedCommandHandler(timeout: timeout))
                    }
                }
                .connect(host: server.host, port: server.port).get()
            return MemcachedConnection(channel: channel)
        } catch {
            throw MemcachedError.connectionFailed("cannot connect to memcached at \(server): \(error)")
        }
    }

    /// Whether the connection can still be used.
    public var isActive: Bool { channel.isActive }

    /// Sends one command (its whole bytes, CRLF included) and waits for its reply. An error line
    /// throws ``MemcachedError/serverError(_:)`` or ``MemcachedError/refused(_:)``.
    public func send(_ bytes: [UInt8]) async throws -> MemcachedReply {
        let promise = channel.eventLoop.makePromise(of: MemcachedReply.self)
        channel.writeAndFlush(MemcachedCommand(bytes: bytes, reply: promise)).whenFailure { error in
            promise.fail(MemcachedError.connectionFailed("write failed: \(error)"))
        }
        return try await promise.futureResult.get()
    }

    /// Closes the connection.
    public func close() {
        channel.close(promise: nil)
    }
}
