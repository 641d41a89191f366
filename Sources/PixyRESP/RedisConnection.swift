public import NIOCore
public import NIOPosix
import NIOSSL
public import PixyPipeline

/// One connection to Redis. Commands may be sent concurrently; they are pipelined.
public final class RedisConnection: Sendable, PipelinedConnection {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects (over TLS for `rediss://`), authenticates and selects the database.
    public static func connect(
        _ configuration: RedisConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RedisConnection {
        let sslContext: NIOSSLContext?
        if configuration.usesTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = configuration.trustedCAFile {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file))
                } catch {
                    throw RedisError.connectionFailed("cannot read the Redis CA file \(file): \(error)")
                }
            }
            sslContext = try NIOSSLContext(configuration: tls)
        } else {
            sslContext = nil
        }
        // SNI carries names only; an address is verified against the certificate's IP SANs.
        let serverHostname =
            configuration.host.first(where: { $0.isLetter }) == nil || configuration.host.contains(":")
            ? nil : configuration.host
        let commandTimeout = TimeAmount.nanoseconds(
            Int64(configuration.commandTimeout.components.seconds) * 1_000_000_000
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
            throw RedisError.connectionFailed("cannot connect to \(configuration.host):\(configuration.port): \(error)")
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
        if case .error(let message) = value { throw RedisError.serverError(message) }
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
                    promise.fail(RedisError.connectionFailed("write failed: \(error)"))
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
