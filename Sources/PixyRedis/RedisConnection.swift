public import NIOCore
public import NIOPosix
import NIOSSL

/// Where and how to connect: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
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
    /// Connections the pool keeps. Each one pipelines, so a few serve many concurrent requests.
    public var maximumConnections = 4
    /// Whether to speak TLS (`rediss://`).
    public var usesTLS: Bool
    /// A PEM file of CA certificates to trust for TLS instead of the system's (private CAs).
    public var trustedCAFile: String?
    /// Delay before reconnecting after a failed attempt; doubles up to ``maximumReconnectDelay``.
    public var initialReconnectDelay: Duration = .milliseconds(50)
    /// Longest delay between reconnect attempts while Redis is unreachable.
    public var maximumReconnectDelay: Duration = .seconds(1)

    /// Parses a `redis://` or `rediss://` URL; `nil` if malformed.
    public init?(url: String) {
        let scheme: String
        if url.hasPrefix("redis://") {
            scheme = "redis://"
        } else if url.hasPrefix("rediss://") {
            scheme = "rediss://"
        } else {
            return nil
        }
        usesTLS = scheme == "rediss://"
        var rest = Substring(url.dropFirst(scheme.count))
        var database = 0
        if let question = rest.firstIndex(of: "?") { rest = rest[..<question] }
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

/// One command on its way: the arguments and the promise its reply completes.
struct RedisCommand: Sendable {
    let arguments: [String]
    let reply: EventLoopPromise<RESPValue>
}

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
            handler.failAll(RedisError.connection("command timed out"))
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
            context.fireErrorCaught(RedisError.connection("reply without a command"))
            return
        }
        entry.reply.succeed(value)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisError.connection("connection error: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connection("connection closed"))
        watchdog?.cancel()
        watchdog = nil
        context.fireChannelInactive()
    }

    private func failAll(_ error: RedisError) {
        while let entry = pending.popFirst() { entry.reply.fail(error) }
    }
}

/// One connection to Redis. Commands may be sent concurrently; they are pipelined.
public final class RedisConnection: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects (over TLS for `rediss://`), authenticates and selects the database.
    public static func connect(_ configuration: RedisConfiguration,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RedisConnection {
        let sslContext: NIOSSLContext?
        if configuration.usesTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = configuration.trustedCAFile {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw RedisError.connection("cannot read the Redis CA file \(file): \(error)")
                }
            }
            sslContext = try NIOSSLContext(configuration: tls)
        } else {
            sslContext = nil
        }
        // SNI carries names only; an address is verified against the certificate's IP SANs.
        let serverHostname = configuration.host.first(where: { $0.isLetter }) == nil || configuration.host.contains(":")
            ? nil : configuration.host
        let commandTimeout = TimeAmount.nanoseconds(Int64(configuration.commandTimeout.components.seconds) * 1_000_000_000
                                                    + Int64(configuration.commandTimeout.components.attoseconds / 1_000_000_000))
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(2))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder()))
                        try channel.pipeline.syncOperations.addHandler(RESPCommandHandler(timeout: commandTimeout))
                    }
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError.connection("cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
        let connection = RedisConnection(channel: channel)
        do {
            if let password = configuration.password {
                let auth = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                _ = try await connection.send(auth)
            }
            if configuration.database != 0 {
                _ = try await connection.send(["SELECT", String(configuration.database)])
            }
            // A TLS handshake failure surfaces on the first command; without a password, ask one.
            if configuration.password == nil && configuration.database == 0 && configuration.usesTLS {
                _ = try await connection.send(["PING"])
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
    /// later replies could no longer be matched; see ``RESPCommandHandler``).
    public func send(_ arguments: [String]) async throws -> RESPValue {
        let value = try await send(batch: [arguments])[0]
        if case .error(let message) = value { throw RedisError.reply(message) }
        return value
    }

    /// Sends several commands back to back, in one write, and returns their replies in order.
    ///
    /// The commands are written by one task on the connection's event loop, so no other caller's
    /// command can come between them: `MULTI … EXEC` sent as one batch is a transaction even on a
    /// connection other callers pipeline on. Error replies are returned, not thrown.
    public func send(batch commands: [[String]]) async throws -> [RESPValue] {
        let loop = channel.eventLoop
        let promises = commands.map { _ in loop.makePromise(of: RESPValue.self) }
        loop.execute { [channel] in
            for (arguments, promise) in zip(commands, promises) {
                channel.write(RedisCommand(arguments: arguments, reply: promise)).whenFailure { error in
                    promise.fail(RedisError.connection("write failed: \(error)"))
                }
            }
            channel.flush()
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for promise in promises { replies.append(try await promise.futureResult.get()) }
        return replies
    }

    /// Closes the connection.
    public func close() {
        channel.close(promise: nil)
    }
}
