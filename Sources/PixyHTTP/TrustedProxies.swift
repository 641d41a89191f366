import Foundation
import Hummingbird
#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 or IPv6 network in CIDR form (`10.0.0.0/8`, `fd00::/8`, or one address).
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefixLength: Int

    /// Parses `a.b.c.d/n`, `x::y/n`, or a single address; `nil` when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, let address = Self.bytes(of: first) else { return nil }
        let length = parts.count == 2 ? Int(parts[1]) : address.count * 8
        guard let length, (0...(address.count * 8)).contains(length) else { return nil }
        bytes = address
        prefixLength = length
    }

    /// The range as given.
    public var description: String { "\(Self.text(of: bytes))/\(prefixLength)" }

    /// Whether `address` (text) lies in the range; IPv4-mapped IPv6 addresses count as IPv4.
    public func contains(_ address: String) -> Bool {
        guard let candidate = Self.bytes(of: address), candidate.count == bytes.count else { return false }
        var remaining = prefixLength
        for index in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            guard candidate[index] & mask == bytes[index] & mask else { return false }
            remaining -= bits
        }
        return true
    }

    /// 4 bytes for IPv4 (and IPv4-mapped IPv6), 16 for IPv6.
    static func bytes(of text: String) -> [UInt8]? {
        let bare = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, bare, &v4) == 1 { return v4 }
        var v6 = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, bare, &v6) == 1 else { return nil }
        if v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xFF, v6[11] == 0xFF { return Array(v6[12...]) }
        return v6
    }

    static func text(of bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(
            separator: ":")
    }
}

/// Finds the client behind trusted reverse proxies: when the peer is one of them, the
/// rightmost `X-Forwarded-For` entry that is not a trusted proxy is the client (entries further
/// left were written by the client itself and prove nothing). Per-source limits and security
/// log lines then count the client, not the proxy (docs/operations.md, "behind a proxy").
struct TrustedProxyMiddleware: RouterMiddleware {
    typealias Context = PixyRequestContext
    let trusted: [AddressRange]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.clientAddress = Self.client(
            peer: context.remoteAddress?.ipAddress,
            forwardedFor: request.headers[values: .init("X-Forwarded-For")!], trusted: trusted)
        return try await next(request, context)
    }

    /// The client address for a request from `peer` carrying `forwardedFor` header values.
    static func client(peer: String?, forwardedFor: [String], trusted: [AddressRange]) -> String? {
        guard let peer, trusted.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard AddressRange.bytes(of: hop) != nil else { return peer }  // garbage: trust nothing further
            if !trusted.contains(where: { $0.contains(hop) }) { return hop }
        }
        return hops.first ?? peer
    }
}
