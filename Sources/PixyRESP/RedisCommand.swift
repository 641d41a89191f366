public import NIOCore
public import PixyPipeline

/// One command on its way: the arguments and the promise its reply completes.
public struct RedisCommand: Sendable, PipelinedCommand {
    /// The command and its arguments.
    public let arguments: [String]
    /// Completed with the reply (an error reply too: ``RedisConnection`` throws it).
    public let reply: EventLoopPromise<RESPValue>

    /// A command.
    public init(arguments: [String], reply: EventLoopPromise<RESPValue>) {
        self.arguments = arguments
        self.reply = reply
    }

    /// A RESP array of bulk strings.
    public func encode(into buffer: inout ByteBuffer) {
        RESP.encodeCommand(arguments, into: &buffer)
    }

    /// ``RedisError`` for each failure.
    public static func error(_ failure: PipelineFailure, _ detail: String) -> any Error {
        switch failure {
        case .timedOut: RedisError.timedOut(detail)
        case .connectionError: RedisError.connectionFailed(detail)
        case .connectionClosed: RedisError.connectionClosed(detail)
        case .protocolViolation: RedisError.protocolViolation(detail)
        }
    }

    /// The decoder's errors are ``RedisError/Code/protocolViolation``.
    public static func isProtocolViolation(_ error: any Error) -> Bool {
        (error as? RedisError)?.code == .protocolViolation
    }
}

/// Completes Redis commands with their replies, in order (see ``PipelinedCommandHandler``).
public typealias RESPCommandHandler = PipelinedCommandHandler<RedisCommand>
