public import AsyncHTTPClient
public import Foundation
public import NIOCore
import NIOHTTP1

/// One HTTP response as the client needs it: status, headers, and the whole body.
public struct ClientHTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The header fields in the order received.
    public var headers: [(name: String, value: String)]
    /// The body, at most ``ClientHTTP/maximumBodyBytes``.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header field, compared without case (RFC 9110 §5.1).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The body decoded as a JSON object, or nil when it is not one.
    public var jsonObject: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// The body as UTF-8 text, for error messages.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// The HTTP the client speaks: one request, one whole response, redirects never followed (an
/// authorization response is a redirect the client reads, not one it follows).
public protocol ClientHTTP: Sendable {
    /// Sends one request and returns its response.
    func send(_ method: String, _ url: URL, headers: [(String, String)], body: [UInt8]?) async throws -> ClientHTTPResponse
}

extension ClientHTTP {
    /// Sends a GET.
    public func get(_ url: URL, headers: [(String, String)] = []) async throws -> ClientHTTPResponse {
        try await send("GET", url, headers: headers, body: nil)
    }

    /// Sends a form POST (`application/x-www-form-urlencoded`, RFC 6749 §4.1.3).
    public func postForm(_ url: URL, _ form: [(String, String)], headers: [(String, String)] = []) async throws -> ClientHTTPResponse {
        try await send(
            "POST", url, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers,
            body: Array(FormEncoding.encode(form).utf8))
    }

    /// Sends a JSON POST.
    public func postJSON(_ url: URL, _ object: [String: Any]) async throws -> ClientHTTPResponse {
        let body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return try await send("POST", url, headers: [("Content-Type", "application/json")], body: Array(body))
    }
}

extension ClientHTTP {
    /// Registers a public client (`token_endpoint_auth_method` none) for the code and refresh
    /// grants at `endpoint` and returns its `client_id` (RFC 7591 §3).
    func registerPublicClient(at endpoint: URL, name: String, redirectURI: URL) async throws -> String {
        let response = try await postJSON(
            endpoint,
            [
                "client_name": name, "redirect_uris": [redirectURI.absoluteString], "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"], "token_endpoint_auth_method": "none",
            ])
        guard response.status == 201 || response.status == 200, let id = response.jsonObject?["client_id"] as? String else {
            throw PixyClientError.registration("HTTP \(response.status): \(response.text.prefix(300))")
        }
        return id
    }
}

/// `application/x-www-form-urlencoded` as the HTML URL-encoded form serializer writes it, with
/// only the unreserved set left as is (RFC 3986 §2.3).
public enum FormEncoding {
    /// Encodes pairs in their order.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes everything outside the unreserved set.
    public static func escape(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// ``ClientHTTP`` on AsyncHTTPClient, with redirects off and a deadline per request.
public struct AsyncHTTPClientHTTP: ClientHTTP {
    /// Bodies larger than this are refused: metadata and token responses are small.
    public static let maximumBodyBytes = 1 << 20
    /// The client used by default: redirects off; it lives as long as the process.
    public static let shared = AsyncHTTPClientHTTP(
        client: HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow)))

    private let client: HTTPClient
    private let timeout: TimeAmount

    /// Wraps a client; it must not follow redirects.
    public init(client: HTTPClient, timeout: TimeAmount = .seconds(20)) {
        self.client = client
        self.timeout = timeout
    }

    /// Sends one request through AsyncHTTPClient.
    public func send(_ method: String, _ url: URL, headers: [(String, String)], body: [UInt8]?) async throws -> ClientHTTPResponse {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "User-Agent", value: "PixyClient")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: Self.maximumBodyBytes)
        return ClientHTTPResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Array(bytes.readableBytesView))
    }
}

/// Where OAuth traffic may go: https, or http to a loopback host only (OAuth 2.1 §1.5; RFC 8252
/// §8.3 for the loopback redirect).
public enum SecureTransport {
    /// True for https URLs and for http URLs on 127.0.0.0/8, `::1` or `localhost`.
    public static func allows(_ url: URL) -> Bool {
        if url.scheme == "https" { return url.host != nil }
        guard url.scheme == "http", let host = url.host else { return false }
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        // Only a dotted-quad literal in 127.0.0.0/8: "127.0.0.1.example" or "127.+0.0.1" go to DNS.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.first == "127"
            && octets.allSatisfy { octet in
                !octet.isEmpty && octet.count <= 3 && octet.allSatisfy(\.isASCIIDigitCharacter) && Int(octet)! <= 255
            }
    }

    static func check(_ urls: URL?..., what: String) throws {
        for case let url? in urls where !allows(url) {
            throw PixyClientError("insecure_endpoint", "\(what) \(url.absoluteString) is neither https nor loopback http")
        }
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
