import Crypto

/// Ketama-style consistent hashing: each server owns 160 points on a 32-bit ring (four per MD5
/// of `"<host:port>-<i>"`), and a key belongs to the first point at or after the hash of the key.
/// Adding or removing one server moves only the keys that server gains or loses.
///
/// No failover: a key always maps to its server, even while that server is down, so a key is
/// never read from a server that did not store it (a code could otherwise be stored on one
/// server and, after a failover, found absent, or stored twice). A server down fails its keys
/// closed until it is back (docs/operations.md, Memcached).
public struct HashRing: Sendable {
    private let points: [(hash: UInt32, server: Int)]
    /// How many servers the ring spreads keys over.
    public let serverCount: Int

    /// A ring over servers named `names` (their `host:port`).
    public init(names: [String]) {
        var points: [(hash: UInt32, server: Int)] = []
        for (server, name) in names.enumerated() {
            for group in 0..<40 {
                let digest = Array(Insecure.MD5.hash(data: Array("\(name)-\(group)".utf8)))
                for part in 0..<4 {
                    points.append((Self.word(digest, at: part * 4), server))
                }
            }
        }
        self.points = points.sorted { $0.hash < $1.hash || ($0.hash == $1.hash && $0.server < $1.server) }
        serverCount = names.count
    }

    /// The index of the server that owns `key`.
    public func server(for key: String) -> Int {
        guard serverCount > 1 else { return 0 }
        let hash = Self.word(Array(Insecure.MD5.hash(data: Array(key.utf8))), at: 0)
        var low = 0
        var high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle].hash < hash { low = middle + 1 } else { high = middle }
        }
        return points[low == points.count ? 0 : low].server
    }

    private static func word(_ digest: [UInt8], at offset: Int) -> UInt32 {
        UInt32(digest[offset + 3]) << 24 | UInt32(digest[offset + 2]) << 16 | UInt32(digest[offset + 1]) << 8 | UInt32(digest[offset])
    }
}
