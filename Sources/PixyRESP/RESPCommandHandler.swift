import NIOCore

/// Writes commands and completes their promises with replies in order: Redis answers commands on
/// one connection in the order they were sent, so pipelining is a FIFO of promises.
final class RESPCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisCommand
    typealias OutboundOut = ByteBuffer

    private var pending = CircularBuffer<(reply: EventLoopPromise<RESPValue>, deadline: NIODeadline)>()
    private let timeout: TimeAmount
    private var watchdog: RepeatedTask?

    /// Why a watchdog and not a timer per command: scheduling and cancelling a timer from the
    /// caller's thread wakes the event loop twice per command, which measured as the largest cost
    /// of a Redis-backed request. The oldest reply is always the first due, so one check every
    /// tenth of the timeout finds a stalled connection (at most 10% late).
    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let interval = TimeAmount.nanoseconds(max(timeout.nanoseconds / 10, 10_000_000))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            guard let oldest = handler.pending.first, oldest.deadline < .now() else { return }
            handler.failAll(RedisError.timedOut("command timed out"))
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        watchdog?.cancel()
        watchdog = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        RESP.encodeCommand(command.arguments, into: &buffer)
        pending.append((command.reply, .now() + timeout))
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let entry = pending.popFirst() else {
            context.fireErrorCaught(RedisError.protocolViolation("reply without a command"))
            return
        }
        entry.reply.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A decoder error is already a protocol violation; anything else broke the connection.
        let isProtocolViolation = (error as? RedisError)?.code == .protocolViolation
        failAll(
            isProtocolViolation
                ? RedisError.protocolViolation("connection error: \(error)")
                : RedisError.connectionFailed("connection error: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connectionClosed("connection closed"))
        watchdog?.cancel()
        watchdog = nil
        context.fireChannelInactive()
    }

    private func failAll(_ error: RedisError) {
        while let entry = pending.popFirst() { entry.reply.fail(error) }
    }
}
