import NIOCore
import NIOEmbedded
@testable import PixyMemcached
import PixyPipeline
import Testing

/// The memcached connection's pipeline (decoder, then the command handler) on an embedded channel.
private func memcachedChannel() throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MemcachedReplyDecoder()))
    try channel.pipeline.syncOperations.addHandler(MemcachedCommandHandler(timeout: .seconds(60)))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 11211)).wait()
    return channel
}

private func send(_ text: String, on channel: EmbeddedChannel) throws -> EventLoopFuture<MemcachedReply> {
    let promise = channel.eventLoop.makePromise(of: MemcachedReply.self)
    try channel.writeOutbound(MemcachedCommand(bytes: Array(text.utf8), reply: promise))
    return promise.futureResult
}

private func result(_ future: EventLoopFuture<MemcachedReply>) -> Result<MemcachedReply, any Error>? {
    var outcome: Result<MemcachedReply, any Error>?
    future.whenComplete { outcome = $0 }
    return outcome
}

@Suite("Memcached meta replies: framing, order, error lines")
struct MemcachedPipelineTests {
    @Test("Replies complete commands in order; a value split across reads waits for its last byte")
    func framing() throws {
        let channel = try memcachedChannel()
        let first = try send("mg a v c\r\n", on: channel)
        let second = try send("mg b v c\r\n", on: channel)
        let third = try send("md c C1\r\n", on: channel)
        try channel.writeInbound(ByteBuffer(string: "VA 5 c42\r\nhel"))
        #expect(result(first) == nil, "the value is not complete yet")
        try channel.writeInbound(ByteBuffer(string: "lo\r\nEN\r\nEX\r\n"))
        let value = try #require(try result(first)?.get())
        #expect(value.value == Array("hello".utf8) && value.cas == 42)
        #expect(try result(second)?.get().status == "EN")
        #expect(try result(third)?.get().status == "EX")
        _ = try channel.finish()
    }

    @Test("SERVER_ERROR fails its command as temporary, CLIENT_ERROR as refused; later replies stay in step")
    func errorLines() throws {
        let channel = try memcachedChannel()
        let full = try send("ms a 1 T1\r\nx\r\n", on: channel)
        let refused = try send("ms b 1 T1\r\nx\r\n", on: channel)
        let fine = try send("mg c v\r\n", on: channel)
        try channel.writeInbound(ByteBuffer(string: "SERVER_ERROR out of memory storing object\r\nCLIENT_ERROR bad data chunk\r\nEN\r\n"))
        #expect(throws: MemcachedError.serverError("")) { try result(full)?.get() }
        let refusal = #expect(throws: MemcachedError.self) { try result(refused)?.get() }
        #expect(refusal?.code == .refused && refusal?.isTemporary == false)
        #expect(try result(fine)?.get().status == "EN")
        _ = try channel.finish()
    }

    @Test("A reply nobody asked for closes the connection: replies are out of step and cannot be trusted")
    func unsolicitedReply() throws {
        let channel = try memcachedChannel()
        try channel.writeInbound(ByteBuffer(string: "HD\r\n"))
        #expect(!channel.isActive)
    }

    @Test("Bytes that are not a reply fail every waiting command and close the connection")
    func garbage() throws {
        let channel = try memcachedChannel()
        let waiting = try send("mg a v\r\n", on: channel)
        _ = try? channel.writeInbound(ByteBuffer(string: "VA x\r\n"))
        let error = #expect(throws: MemcachedError.self) { try result(waiting)?.get() }
        #expect(error?.code == .protocolViolation)
        #expect(!channel.isActive)
    }
}
