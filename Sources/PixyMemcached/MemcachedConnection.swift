public import NIOCore
public import NIOPosix
import Synchronization

/// A command: its bytes and the promise its reply completes.
struct MemcachedCommand {
    var bytes: [UInt8]
    var reply: EventLoopPromise<MemcachedReply>
}

/// Writes commands and completes their promises in order: Memcached answers the commands on one
/// connection in the order they were sent, so pipelining is a FIFO of promises. One watchdog per
/// connection fails everything waiting once the oldest reply is overdue, and closes the
/// connection, since later replies could no longer be matched to their commands.
final class MemcachedCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = MemcachedReply
    typealias OutboundIn = MemcachedCommand
    typealias OutboundOut = ByteBuffer

    private var pending = CircularBuffer<(reply: EventLoopPromise<MemcachedReply>, deadline: NIODeadline)>()
    private let timeout: TimeAmount
    private var watchdog: RepeatedTask?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let interval = TimeAmount.nanoseconds(max(timeout.nanoseconds / 10, 10_000_000))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            guard let oldest = handler.pending.first, oldest.deadline < .now() else { return }
            handler.failAll(.timedOut("memcached command timed out"))
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        pending.append((command.reply, .now() + timeout))
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: command.bytes)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard let entry = pending.popFirst() else {
            context.fireErrorCaught(MemcachedError.protocolViolation("reply without a command"))
            return
        }
        if reply.status == "ERROR" || reply.status == "CLIENT_ERROR" || reply.status == "SERVER_ERROR" {
            entry.reply.fail(MemcachedError.serverError(([reply.status] + reply.flags).joined(separator: " ")))
        } else {
            entry.reply.succeed(reply)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let isProtocolViolation = (error as? MemcachedError)?.code == .protocolViolation
        failAll(isProtocolViolation ? .protocolViolation("\(error)") : .connectionFailed("connection error: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionFailed("connection closed"))
        watchdog?.cancel()
        watchdog = nil
        context.fireChannelInactive()
    }

    private func failAll(_ error: MemcachedError) {
        while let entry = pending.popFirst() { entry.reply.fail(error) }
    }
}

/// One connection to one Memcached server; commands may be sent concurrently and are pipelined.
public final class MemcachedConnection: Sendable {
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
    /// throws ``MemcachedError/serverError(_:)``.
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

/// One connection slot: connected, connecting (callers share the attempt), or backing off after
/// a failed attempt, so an outage costs callers an immediate error rather than a connect timeout.
final class MemcachedConnectionSlot: Sendable {
    private enum State {
        case empty
        case connecting(Task<MemcachedConnection, any Error>)
        case ready(MemcachedConnection)
        case backingOff(until: ContinuousClock.Instant)
    }

    private struct Guarded {
        var state = State.empty
        var failures = 0
    }

    private let guarded = Mutex(Guarded())

    func connection(to server: MemcachedConfiguration.Server, _ configuration: MemcachedConfiguration) async throws
        -> MemcachedConnection
    {
        enum Next { case use(MemcachedConnection), wait(Task<MemcachedConnection, any Error>) }
        let next: Next = try guarded.withLock { guarded in
            switch guarded.state {
            case .ready(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let task):
                return .wait(task)
            case .backingOff(let until) where ContinuousClock.now < until:
                throw MemcachedError.backingOff("memcached unreachable at \(server); retrying shortly")
            case .ready(let connection):
                connection.close()
                fallthrough
            default:
                let timeout = configuration.commandTimeout
                let task = Task { try await MemcachedConnection.connect(to: server, commandTimeout: timeout) }
                guarded.state = .connecting(task)
                return .wait(task)
            }
        }
        switch next {
        case .use(let connection):
            return connection
        case .wait(let task):
            do {
                let connection = try await task.value
                guarded.withLock { guarded in
                    if case .connecting = guarded.state { guarded.state = .ready(connection) }
                    guarded.failures = 0
                }
                return connection
            } catch {
                guarded.withLock { guarded in
                    guard case .connecting = guarded.state else { return }
                    guarded.failures += 1
                    let delay = min(
                        configuration.initialReconnectDelay * (1 << min(guarded.failures - 1, 16)),
                        configuration.maximumReconnectDelay)
                    guarded.state = .backingOff(until: .now + delay)
                }
                throw error
            }
        }
    }

    func close() {
        guarded.withLock { guarded in
            if case .ready(let connection) = guarded.state { connection.close() }
            guarded.state = .empty
        }
    }
}
