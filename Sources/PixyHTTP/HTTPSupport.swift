import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import PixyCore
import PixyModel

/// Builds responses in the shapes the RFCs prescribe.
enum Responses {
    static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache`: token and registration
    /// responses carry credentials (RFC 6749 §5.1, RFC 7591 §3.2.1; docs/security.md §4).
    static func noStoreJSON(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? jsonEncoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The RFC 6749 §5.1 token response, written member by member (``JSONObjectWriter``: the same
    /// bytes `jsonEncoder` writes, without its reflection; docs/performance.md), no-store.
    static func tokenResponse(_ value: TokenResponse) -> Response {
        var json = JSONObjectWriter(capacity: value.accessToken.utf8.count + 160)
        json.add("access_token", value.accessToken)
        json.add("expires_in", value.expiresIn)
        json.addIfPresent("refresh_token", value.refreshToken)
        json.addIfPresent("scope", value.scope)
        json.add("token_type", value.tokenType)
        return noStoreJSON(bytes: json.finish(), status: .ok)
    }

    private static func noStoreJSON(bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store", .pragma: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A cacheable JSON body (metadata, JWKS).
    static func publicJSON(_ text: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An RFC 6749 §5.2 error: JSON `error` and `error_description`, no-store, the status of
    /// ``status(for:)`` (with `WWW-Authenticate` for `invalid_client` when the client used Basic).
    /// Never echoes a secret, code or token: descriptions are fixed text.
    static func oauthError(_ error: OAuthError, usedBasic: Bool = false, realm: String) -> Response {
        var body = JSONObjectWriter(capacity: 160)
        body.add("error", error.code.rawValue)
        body.add("error_description", error.description)
        var response = noStoreJSON(bytes: body.finish(), status: status(for: error))
        if let retryAfter = retryAfter(for: error) { response.headers[.retryAfter] = retryAfter }
        if error.code == .invalidClient, usedBasic {
            response.headers[.wwwAuthenticate] = "Basic realm=\"\(realm)\", charset=\"UTF-8\""
        }
        return response
    }

    /// The one place an error's HTTP status is decided, from its condition: 429 for a reached
    /// limit, 503 when a store is unreachable, 500 when the server failed; a refused request is
    /// 401 for `invalid_client` (RFC 6749 §5.2) and 400 otherwise.
    static func status(for error: OAuthError) -> HTTPResponse.Status {
        switch error.condition {
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .failed: .internalServerError
        case .refused: error.code == .invalidClient ? .unauthorized : .badRequest
        }
    }

    /// `Retry-After` for an error the client may retry: the limit's wait, or a second for an
    /// unreachable store.
    static func retryAfter(for error: OAuthError) -> String? {
        switch error.condition {
        case .rateLimited(let seconds): String(seconds)
        case .unavailable: "1"
        case .refused, .failed: nil
        }
    }

    /// A redirect. `303 See Other` after a POST (never 307, which would re-post the password;
    /// docs/security.md §8), `302 Found` for `GET /authorize` (RFC 6749 §4.1.2).
    static func redirect(to location: String, status: HTTPResponse.Status = .found) -> Response {
        Response(status: status, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// An HTML page.
    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// An OAuth error on its way to the client, thrown by a handler and rendered by Hummingbird
/// (and seen by the middleware on its way out): RFC 6749 §5.2 JSON with the status of
/// ``Responses/status(for:)``.
struct OAuthErrorResponse: HTTPResponseError {
    /// The error.
    let error: OAuthError
    /// Whether the client tried HTTP Basic (`WWW-Authenticate` on `invalid_client`).
    let usedBasic: Bool
    /// The realm named in `WWW-Authenticate`: the issuer.
    let realm: String

    var status: HTTPResponse.Status { Responses.status(for: error) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Responses.oauthError(error, usedBasic: usedBasic, realm: realm)
    }
}

/// Reading requests.
enum RequestReading {
    /// Largest form body accepted at the token endpoint and on the pages.
    static let maximumFormBody = 64 * 1024
    /// Largest JSON body accepted at the registration endpoint (docs/security.md §7).
    static let maximumRegistrationBody = 16 * 1024

    /// The query string's parameters, or `nil` if an escape is malformed.
    static func query(_ request: Request) -> FormParameters? {
        FormParameters(urlEncoded: request.uri.query ?? "")
    }

    /// Whether the media type (parameters ignored, case-insensitive) is `expected`.
    static func hasContentType(_ request: Request, _ expected: String) -> Bool {
        guard let value = request.headers[.contentType] else { return false }
        let mediaType = trimmingOWS(value.utf8.split(separator: UInt8(ascii: ";"), maxSplits: 1, omittingEmptySubsequences: false)[0])
        return mediaType.count == expected.utf8.count
            && zip(mediaType, expected.utf8).allSatisfy { asciiLowercased($0) == asciiLowercased($1) }
    }

    /// `bytes` without leading and trailing optional whitespace (RFC 9110 §5.6.3: spaces and
    /// horizontal tabs), sliced in place rather than bridged through Foundation (docs/performance.md).
    static func trimmingOWS<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        func isOWS(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isOWS($0) }), let last = bytes.lastIndex(where: { !isOWS($0) }) else {
            return bytes[bytes.endIndex...]
        }
        return bytes[first...last]
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// The `application/x-www-form-urlencoded` body. Throws `invalid_request` on a wrong type,
    /// an over-long body or a malformed escape.
    static func form(_ request: Request) async throws(OAuthError) -> FormParameters {
        guard hasContentType(request, "application/x-www-form-urlencoded") else {
            throw .invalidRequest("The request body must be application/x-www-form-urlencoded.")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maximumFormBody) } catch {
            throw .invalidRequest("The request body is too large.")
        }
        guard let parameters = FormParameters(urlEncoded: buffer.readableBytesView) else {
            throw .invalidRequest("The request body is not valid form encoding.")
        }
        return parameters
    }

    /// `Authorization: Basic` credentials per RFC 6749 §2.3.1: base64 of
    /// `urlencode(client_id) ":" urlencode(client_secret)`, so `:` `%` `+` in either survive.
    /// `nil` when no Basic header was sent; `.failure` when one was sent but is malformed.
    static func basicCredentials(_ request: Request) -> Result<(clientID: String, secret: String), OAuthError>? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic" else { return nil }
        guard let data = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
            let colon = data.firstIndex(of: UInt8(ascii: ":")),
            let clientID = FormParameters.percentDecode(data[data.startIndex..<colon]),
            let secret = FormParameters.percentDecode(data[data.index(after: colon)...]),
            !clientID.isEmpty
        else {
            return .failure(.invalidClient("The Authorization header is malformed."))
        }
        return .success((clientID, secret))
    }

    /// The value of cookie `name`, if present once.
    static func cookie(_ request: Request, named name: String) -> String? {
        var found: [String] = []
        let wanted = Array(name.utf8)
        for header in request.headers[values: .cookie] {
            for pair in header.utf8.split(separator: UInt8(ascii: ";")) {
                let trimmed = trimmingOWS(pair)
                guard let equals = trimmed.firstIndex(of: UInt8(ascii: "=")) else { continue }
                if trimmed[..<equals].elementsEqual(wanted) {
                    found.append(String(decoding: trimmed[trimmed.index(after: equals)...], as: UTF8.self))
                }
            }
        }
        return found.count == 1 ? found[0] : nil
    }
}
