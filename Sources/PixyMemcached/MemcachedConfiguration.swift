/// Where the Memcached servers are: `memcached://host:port[,host:port…]` (port 11211 when
/// omitted). Keys are spread over the servers by consistent hashing (``HashRing``).
public struct MemcachedConfiguration: Sendable, Equatable {
    /// One server.
    public struct Server: Sendable, Hashable, CustomStringConvertible {
        /// Host name or address.
        public var host: String
        /// Port.
        public var port: Int
        /// `host:port`, the name the ring hashes.
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The servers, in the order given.
    public var servers: [Server]
    /// How long one command may take before the connection is given up.
    public var commandTimeout: Duration = .seconds(2)
    /// Connections kept per server; each pipelines.
    public var connectionsPerServer = 2
    /// Delay before reconnecting after a failed attempt; doubles up to ``maximumReconnectDelay``.
    public var initialReconnectDelay: Duration = .milliseconds(50)
    /// Longest delay between reconnect attempts while a server is unreachable.
    public var maximumReconnectDelay: Duration = .seconds(1)

    /// Servers from a `memcached://` URL; `nil` if malformed.
    public init?(url: String) {
        guard url.hasPrefix("memcached://") else { return nil }
        var rest = Substring(url.dropFirst("memcached://".count))
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) { rest = rest[..<end] }
        var servers: [Server] = []
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            var host = String(part)
            var port = 11211
            if let colon = part.lastIndex(of: ":"), !part.hasSuffix("]") {
                guard let value = Int(part[part.index(after: colon)...]), (1...65535).contains(value) else { return nil }
                port = value
                host = String(part[..<colon])
            }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty, !host.contains("@") else { return nil }
            let server = Server(host: host, port: port)
            guard !servers.contains(server) else { return nil }
            servers.append(server)
        }
        guard !servers.isEmpty else { return nil }
        self.servers = servers
    }
}
