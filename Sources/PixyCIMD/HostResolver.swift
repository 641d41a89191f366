public import NIOCore
import PixyCore
import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Resolves the host of a metadata-document URL. Injectable so tests can supply a name server
/// that never answers or answers chosen addresses (docs/threat-model.md, "a name
/// server that never answers").
public protocol MetadataHostResolving: Sendable {
    /// Every address `host` (a name or an IP literal, without brackets) has, for `port`.
    /// May throw ``MetadataFetchUnavailable`` when it has no capacity left.
    func addresses(of host: String, port: Int) async throws -> [SocketAddress]
}

/// The system resolver (`getaddrinfo`), run on a dedicated thread per lookup and never on Swift's
/// cooperative pool nor on `NIOThreadPool.singleton` (which hashes passwords): a name server that
/// never answers blocks only that thread. Lookups in progress, including ones whose caller has
/// given up at its deadline, are capped; beyond the cap a lookup fails at once with
/// ``MetadataFetchUnavailable`` instead of queueing.
public final class SystemHostResolver: MetadataHostResolving {
    /// The blocking lookup: host and port to addresses.
    public typealias Lookup = @Sendable (String, Int) throws -> [SocketAddress]

    private let lookup: Lookup
    private let busy = Mutex(0)
    /// Lookups that may be in progress at once.
    public let maximumConcurrentLookups: Int

    /// Creates a resolver. `lookup` is `getaddrinfo` unless a test supplies a blocking stand-in.
    public init(maximumConcurrentLookups: Int = 8, lookup: @escaping Lookup = { try SystemHostResolver.systemLookup($0, $1) }) {
        self.maximumConcurrentLookups = max(1, maximumConcurrentLookups)
        self.lookup = lookup
    }

    /// Lookups in progress now (each holds one thread).
    public var lookupsInProgress: Int { busy.withLock { $0 } }

    public func addresses(of host: String, port: Int) async throws -> [SocketAddress] {
        let admitted = busy.withLock { busy in
            guard busy < maximumConcurrentLookups else { return false }
            busy += 1
            return true
        }
        guard admitted else { throw MetadataFetchUnavailable("too many host lookups in progress") }
        let lookup = self.lookup
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                let result = Result { try lookup(host, port) }
                self.busy.withLock { $0 -= 1 }
                continuation.resume(with: result)
            }
            thread.name = "pixy-cimd-resolver"
            thread.start()
        }
    }

    /// The resolution failed.
    public struct ResolutionFailure: Error, CustomStringConvertible {
        /// Why, for logs.
        public let description: String
    }

    /// `getaddrinfo(host, port)` for stream sockets (blocking).
    public static func systemLookup(_ host: String, _ port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else { throw ResolutionFailure(description: "cannot resolve host (\(status))") }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let sockaddr = entry.pointee.ai_addr {
                switch Int32(sockaddr.pointee.sa_family) {
                case AF_INET:
                    let address = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
                    addresses.append(SocketAddress(address, host: host))
                case AF_INET6:
                    let address = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
                    addresses.append(SocketAddress(address, host: host))
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
