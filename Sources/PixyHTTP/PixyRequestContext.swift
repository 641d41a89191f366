public import Hummingbird
import PixyCore
public import NIOCore
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// The request context of every Pixy route: Hummingbird's core storage plus the peer address,
/// which the login throttle uses as the request's source.
public struct PixyRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connected peer (the reverse proxy, when there is one).
    public let remoteAddress: SocketAddress?

    /// The client as seen through trusted proxies (``TrustedProxyMiddleware``); `nil` means the
    /// peer itself.
    public var clientAddress: String?
    /// What the handler learned for the request's log line (client id, outcome): shared by
    /// every copy of the context, so the log middleware reads what the handler wrote.
    let notes = RequestNotes()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer as per-source limits count it: an IPv4 address, or the /64 an IPv6 address
    /// belongs to (one customer usually holds a whole /64, so counting each /128 apart would give
    /// one attacker 2^64 budgets).
    var sourceKey: String { SourceAddress.limitKey(clientAddress ?? remoteAddress?.ipAddress) }

    /// The request's sender as ``OAuthServer`` sees it: its per-source key and the logger.
    var caller: Caller { Caller(source: sourceKey, logger: logger) }
}

/// How per-source limits name a peer.
enum SourceAddress {
    /// `a.b.c.d` for IPv4 (and IPv4-mapped IPv6), `x:x:x:x::/64` for IPv6, `unknown` otherwise.
    static func limitKey(_ address: String?) -> String {
        guard let address else { return "unknown" }
        if address.lowercased().hasPrefix("::ffff:"), address.contains(".") { return String(address.dropFirst(7)) }
        guard address.contains(":") else { return address }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}

/// The client id and outcome a handler found, for the request's one log line
/// (``RequestLogMiddleware``). Never a token, code or secret: the client id is public, the outcome
/// an OAuth error code or `ok`, the reason the error's log detail.
final class RequestNotes: Sendable {
    struct Notes {
        var clientID: String?
        var outcome: String?
        var reason: String?
    }

    private let notes = Mutex(Notes())

    /// Records the client the request named.
    func note(clientID: String?) {
        guard let clientID else { return }
        // The field is whatever the request sent: printable ASCII without spaces, up to 256 bytes,
        // or it is replaced, so no line break or control character can forge a text log line.
        let isPlain = clientID.utf8.count <= 256 && clientID.utf8.allSatisfy { (0x21...0x7E).contains($0) }
        notes.withLock { $0.clientID = isPlain ? clientID : "(malformed)" }
    }

    /// Records how the request ended: `ok`, or the error's code and log detail.
    func note(outcome: Result<some Any, OAuthError>) {
        notes.withLock { notes in
            switch outcome {
            case .success: notes.outcome = "ok"
            case .failure(let error):
                notes.outcome = error.code.rawValue
                notes.reason = error.detail
            }
        }
    }

    /// What was recorded.
    var current: Notes { notes.withLock { $0 } }
}
