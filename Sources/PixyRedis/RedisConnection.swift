public import NIOCore
public import NIOPosix

/// Where and how to connect: `redis://[user:password@]host[:port][/db]`.
public struct RedisConfiguration: Sendable, Equatable {
    /// Host name or address.
    public var host: String
    /// Port (default 6379).
    public var port: Int
    /// ACL user name (`AUTH user password`), if any.
    public var username: String?
    /// Password (`AUTH password`), if any.
    public var password: String?
    /// Database index (`SELECT`).
    public var database: Int
    /// How long one command may take.
    public var commandTimeout: Duration = .seconds(2)
    /// Connections the pool keeps at most.
    public var maximumConnections = 8

    /// Parses a `redis://` URL; `nil` if malformed. `rediss://` (TLS) is not supported yet.
    public init?(url: String) {
        guard url.hasPrefix("redis://") else { return nil }
        var rest = Substring(url.dropFirst("redis://".count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let index = Int(path), index >= 0 else { return nil }
                database = index
            }
            rest = rest[..<slash]
        }
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon].removingPercentEncodingOrSelf
                username = user.isEmpty ? nil : user
                password = credentials[credentials.index(after: colon)...].removingPercentEncodingOrSelf
            } else {
                password = credentials.removingPercentEncodingOrSelf
            }
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            port = value
            host = String(rest[..<colon])
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }
}

extension Substring {
    /// Percent-decodes `%XX`; returns the text unchanged if an escape is malformed.
    var removingPercentEncodingOrSelf: String {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
               let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                bytes.append(value)
            } else if byte == UInt8(ascii: "%") {
                return String(self)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// An error reply from Redis, or a failure to talk to it.
public struct RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What happened.
    public let description: String
    /// Whether the connection is unusable afterwards.
    public let isConnectionFailure: Bool

    static func reply(_ message: String) -> RedisError { RedisError(description: message, isConnectionFailure: false) }
    static func connection(_ message: String) -> RedisError { RedisError(description: message, isConnectionFailure: true) }
}

/// Writes commands and completes their promises with replies in order: Redis answers commands on
/// one connection in the order they were sent, so pipelining is a FIFO of promises.
final class RESPCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = ([String], EventLoopPromise<RESPValue>)
    typealias OutboundOut = ByteBuffer

    private var pending = CircularBuffer<EventLoopPromise<RESPValue>>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (arguments, reply) = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        RESP.encodeCommand(arguments, into: &buffer)
        pending.append(reply)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        guard let promise = pending.popFirst() else {
            context.fireErrorCaught(RedisError.connection("reply without a command"))
            return
        }
        promise.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisError.connection("connection error: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connection("connection closed"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: RedisError) {
        while let promise = pending.popFirst() { promise.fail(error) }
    }
}

/// One connection to Redis. Commands may be sent concurrently; they are pipelined.
public final class RedisConnection: Sendable {
    private let channel: any Channel
    private let timeout: Duration

    private init(channel: any Channel, timeout: Duration) {
        self.channel = channel
        self.timeout = timeout
    }

    /// Connects, authenticates and selects the database.
    public static func connect(_ configuration: RedisConfiguration,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(2))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                        try channel.pipeline.syncOperations.addHandler(RESPCommandHandler())
                    }
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError.connection("cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
        let connection = RedisConnection(channel: channel, timeout: configuration.commandTimeout)
        do {
            if let password = configuration.password {
                let auth = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                _ = try await connection.send(auth)
            }
            if configuration.database != 0 {
                _ = try await connection.send(["SELECT", String(configuration.database)])
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Whether the connection can still be used.
    public var isActive: Bool { channel.isActive }

    /// Sends one command and waits for its reply. An error reply throws ``RedisError``; so does a
    /// reply that takes longer than the command timeout (the connection is then closed, since
    /// later replies could no longer be matched).
    public func send(_ arguments: [String]) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(self.timeout.components.seconds) * 1_000_000_000
                                                                      + Int64(self.timeout.components.attoseconds / 1_000_000_000))) { [channel] in
            promise.fail(RedisError.connection("command timed out"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush((arguments, promise)).whenFailure { error in
            promise.fail(RedisError.connection("write failed: \(error)"))
        }
        let value: RESPValue
        do {
            value = try await promise.futureResult.get()
            timeout.cancel()
        } catch {
            timeout.cancel()
            throw error
        }
        if case .error(let message) = value { throw RedisError.reply(message) }
        return value
    }

    /// Closes the connection.
    public func close() {
        channel.close(promise: nil)
    }
}
