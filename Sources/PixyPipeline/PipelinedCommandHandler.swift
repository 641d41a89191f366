public import NIOCore

/// Why a pipelined command failed without a reply of its own.
public enum PipelineFailure: Sendable {
    /// The oldest reply was later than the command timeout; the connection is closed.
    case timedOut
    /// The connection broke (a read or write error).
    case connectionError
    /// The connection closed with the command still waiting.
    case connectionClosed
    /// The bytes received were not a reply, or not a reply to anything.
    case protocolViolation
}

/// A command for a ``PipelinedCommandHandler``: how it is written, the promise its reply
/// completes, and the errors of its protocol.
public protocol PipelinedCommand {
    /// What the decoder before the handler produces for one reply.
    associatedtype Reply: Sendable
    /// The promise the reply completes.
    var reply: EventLoopPromise<Reply> { get }
    /// Writes the command's bytes.
    func encode(into buffer: inout ByteBuffer)
    /// The protocol's own error for a failure without a reply.
    static func error(_ failure: PipelineFailure, _ detail: String) -> any Error
    /// Whether an error the pipeline caught is the protocol's own protocol violation (from the
    /// decoder), as opposed to an I/O error.
    static func isProtocolViolation(_ error: any Error) -> Bool
    /// The error a reply stands for, when the protocol answers errors as replies that fail the
    /// command (memcached's `SERVER_ERROR`); `nil` hands the reply on.
    static func failure(for reply: Reply) -> (any Error)?
}

extension PipelinedCommand {
    /// Every reply is handed on.
    public static func failure(for reply: Reply) -> (any Error)? { nil }
}

/// Writes commands and completes their promises with replies in order: Redis and memcached both
/// answer the commands on one connection in the order they were sent, so pipelining is a FIFO
/// of promises.
///
/// Why a watchdog and not a timer per command: scheduling and cancelling a timer from the caller's
/// thread wakes the event loop twice per command, which measured as the largest cost of a
/// Redis-backed request. The oldest reply is always the first due, so one check every tenth of
/// the timeout finds a stalled connection (at most 10% late). A stalled, broken or out-of-step
/// connection fails every command waiting on it and is closed, since later replies could no
/// longer be matched to their commands.
public final class PipelinedCommandHandler<Command: PipelinedCommand>: ChannelDuplexHandler {
    public typealias InboundIn = Command.Reply
    public typealias OutboundIn = Command
    public typealias OutboundOut = ByteBuffer

    private var pending = CircularBuffer<(reply: EventLoopPromise<Command.Reply>, deadline: NIODeadline)>()
    private let timeout: TimeAmount
    private var watchdog: RepeatedTask?

    /// A handler whose commands each wait at most `timeout` for their reply.
    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// Starts the watchdog.
    public func handlerAdded(context: ChannelHandlerContext) {
        let interval = TimeAmount.nanoseconds(max(timeout.nanoseconds / 10, 10_000_000))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            guard let oldest = handler.pending.first, oldest.deadline < .now() else { return }
            handler.failAll(Command.error(.timedOut, "command timed out"))
            context.close(promise: nil)
        }
    }

    /// Stops the watchdog.
    public func handlerRemoved(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
    }

    /// Queues the command's promise, then writes its bytes.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        command.encode(into: &buffer)
        pending.append((command.reply, .now() + timeout))
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    /// Completes the oldest command with the reply; a reply with no command waiting means the
    /// connection is out of step, and it is closed.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard let entry = pending.popFirst() else {
            failAll(Command.error(.protocolViolation, "reply without a command"))
            context.close(promise: nil)
            return
        }
        if let failure = Command.failure(for: reply) {
            entry.reply.fail(failure)
        } else {
            entry.reply.succeed(reply)
        }
    }

    /// Fails everything waiting and closes the connection.
    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(
            Command.isProtocolViolation(error)
                ? Command.error(.protocolViolation, "connection error: \(error)")
                : Command.error(.connectionError, "connection error: \(error)"))
        context.close(promise: nil)
    }

    /// Fails everything waiting.
    public func channelInactive(context: ChannelHandlerContext) {
        failAll(Command.error(.connectionClosed, "connection closed"))
        watchdog?.cancel()
        watchdog = nil
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        while let entry = pending.popFirst() { entry.reply.fail(error) }
    }
}
