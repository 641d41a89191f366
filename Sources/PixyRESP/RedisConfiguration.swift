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
    fileprivate var removingPercentEncodingOrSelf: String {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
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
