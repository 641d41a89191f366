import Foundation
import NIOCore
import NIOEmbedded
@testable import PixyRESP
import PixyPipeline
import Synchronization
import Testing

/// Collects what each command's reply promise completed with.
final class Replies: Sendable {
    private let results = Mutex<[Int: Result<RESPValue, RedisError>]>([:])

    /// Records promise `index`'s outcome when it completes.
    func watch(_ promise: EventLoopPromise<RESPValue>, index: Int) {
        promise.futureResult.whenComplete { result in
            let outcome = result.mapError { $0 as? RedisError ?? RedisError.connectionFailed("unexpected \($0)") }
            self.results.withLock { $0[index] = outcome }
        }
    }

    /// The outcome of promise `index`, `nil` while it is pending.
    subscript(index: Int) -> Result<RESPValue, RedisError>? { results.withLock { $0[index] } }
}

/// The connection's pipeline (decoder, then the command handler) on an embedded channel.
func commandChannel(timeout: TimeAmount = .seconds(60)) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
    try channel.pipeline.syncOperations.addHandler(RESPCommandHandler(timeout: timeout))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
    return channel
}

/// Sends `count` commands (`ECHO <i>`) and watches their replies.
func sendCommands(_ count: Int, on channel: EmbeddedChannel) throws -> Replies {
    let replies = Replies()
    for index in 0..<count {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        replies.watch(promise, index: index)
        try channel.writeOutbound(RedisCommand(arguments: ["ECHO", String(index)], reply: promise))
    }
    return replies
}

@Suite("RESP command handler: pipelined replies and failures")
struct RESPCommandHandlerTests {
    @Test("Commands are written as RESP arrays and replies complete them in order")
    func repliesInOrder() throws {
        let channel = try commandChannel()
        let replies = try sendCommands(3, on: channel)
        var written = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += String(buffer: buffer) }
        #expect(written == "*2\r\n$4\r\nECHO\r\n$1\r\n0\r\n*2\r\n$4\r\nECHO\r\n$1\r\n1\r\n*2\r\n$4\r\nECHO\r\n$1\r\n2\r\n")
        try channel.writeInbound(ByteBuffer(string: "$1\r\n0\r\n-ERR second\r\n"))
        channel.embeddedEventLoop.run()
        #expect(try replies[0]?.get() == .bulkString(Array("0".utf8)))
        #expect(try replies[1]?.get() == .error("ERR second"), "the handler hands error replies on; RedisConnection throws them")
        #expect(replies[2] == nil, "still waiting")
        try channel.writeInbound(ByteBuffer(string: "$1\r\n2\r\n"))
        channel.embeddedEventLoop.run()
        #expect(try replies[2]?.get() == .bulkString(Array("2".utf8)))
        #expect(try channel.finish().isClean)
    }

    @Test("Closing the connection fails every pending command with connectionClosed")
    func closeFailsPending() throws {
        let channel = try commandChannel()
        let replies = try sendCommands(5, on: channel)
        try channel.writeInbound(ByteBuffer(string: "+first\r\n"))
        _ = try channel.finish(acceptAlreadyClosed: true)
        channel.embeddedEventLoop.run()
        #expect(try replies[0]?.get() == .simpleString("first"))
        for index in 1..<5 {
            #expect(throws: RedisError.connectionClosed("connection closed")) { try replies[index]?.get() }
        }
    }

    @Test("A reply later than the timeout fails every pending command with timedOut and closes the connection")
    func timeoutFailsPending() throws {
        let channel = try commandChannel(timeout: .milliseconds(50))
        let replies = try sendCommands(4, on: channel)
        // The deadlines are on the real clock, the watchdog on the embedded loop's: let the
        // first pass, then run the watchdog.
        Thread.sleep(forTimeInterval: 0.1)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(20))
        channel.embeddedEventLoop.run()
        for index in 0..<4 {
            let error = #expect(throws: RedisError.self) { try replies[index]?.get() }
            #expect(error?.code == .timedOut && error?.isConnectionFailure == true)
        }
        #expect(!channel.isActive, "later replies could not be matched, so the connection is closed")
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }

    @Test("Malformed bytes fail every pending command with protocolViolation and close the connection")
    func protocolViolationFailsPending() throws {
        let channel = try commandChannel()
        let replies = try sendCommands(2, on: channel)
        _ = try? channel.writeInbound(ByteBuffer(string: "?garbage\r\n"))
        channel.embeddedEventLoop.run()
        for index in 0..<2 {
            let error = #expect(throws: RedisError.self) { try replies[index]?.get() }
            #expect(error?.code == .protocolViolation)
        }
        #expect(!channel.isActive)
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

@Suite("Redis errors: codes, not text")
struct RedisErrorTests {
    @Test("An error reply's code is its first word")
    func replyCode() {
        #expect(RedisError.serverError("NOSCRIPT No matching script. Please use EVAL.").replyCode == "NOSCRIPT")
        #expect(RedisError.serverError("PIXY_DUPLICATE_USERNAME").replyCode == "PIXY_DUPLICATE_USERNAME")
        #expect(RedisError.serverError("WRONGTYPE Operation against a key holding the wrong kind of value").replyCode == "WRONGTYPE")
        #expect(RedisError.timedOut("command timed out").replyCode == nil)
    }

    @Test("Errors are equal by code; every code but serverError is a connection failure")
    func equalityAndKinds() {
        #expect(RedisError.connectionFailed("a") == RedisError.connectionFailed("b"))
        #expect(RedisError.connectionFailed("a") != RedisError.connectionClosed("a"))
        #expect(RedisError.serverError("ERR x").description == "ERR x")
        #expect(!RedisError.serverError("ERR x").isConnectionFailure)
        for error in [RedisError.connectionFailed(""), .timedOut(""), .connectionClosed(""), .protocolViolation(""), .backingOff("")] {
            #expect(error.isConnectionFailure, "\(error.code)")
        }
    }
}
