import NIOCore

/// One command on its way: the arguments and the promise its reply completes.
struct RedisCommand: Sendable {
    let arguments: [String]
    let reply: EventLoopPromise<RESPValue>
}
