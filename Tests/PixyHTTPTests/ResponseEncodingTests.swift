import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PixyCore
@testable import PixyHTTP
import Testing

/// The token path writes its JSON and reads its headers byte by byte (docs/performance.md); these
/// tests hold those fast paths to what Foundation produces and to what RFC 9110 allows.
@Suite("RFC 6749 §5.1-5.2 and RFC 9110 §5.6.3: token path encoding and header parsing")
struct ResponseEncodingTests {
    private func body(_ response: Response) async throws -> [UInt8] {
        let collected = Collected()
        try await response.body.write(CollectingWriter(collected: collected))
        return collected.bytes
    }

    @Test("RFC 6749 §5.1: the token response is byte for byte what the sorted-keys JSONEncoder writes, with no-store")
    func tokenResponseMatchesEncoder() async throws {
        let samples = [
            TokenResponse(accessToken: "eyJ.eyJ.sig", expiresIn: 900, scope: "read write", refreshToken: "r-1_x"),
            TokenResponse(accessToken: "a", expiresIn: 0, scope: nil),
            TokenResponse(accessToken: "quote\" back\\ nl\n ctl\u{1} slash/ é 🔑", expiresIn: -5, scope: "s\u{1F}", refreshToken: nil),
        ]
        for sample in samples {
            let response = Responses.tokenResponse(sample)
            #expect(response.headers[.cacheControl] == "no-store" && response.headers[.pragma] == "no-cache")
            #expect(response.headers[.contentType] == "application/json")
            let expected = Array(try Responses.jsonEncoder.encode(sample))
            #expect(try await body(response) == expected, "\(sample)")
            #expect(try JSONDecoder().decode(TokenResponse.self, from: Data(try await body(response))) == sample)
        }
    }

    @Test("RFC 6749 §5.2: an error body is error and error_description, escaped, and nothing else")
    func errorBody() async throws {
        let response = Responses.oauthError(.invalidRequest("The \"code\" parameter\\is missing."), realm: "https://a.example")
        let object = try JSONSerialization.jsonObject(with: Data(try await body(response))) as? [String: String]
        #expect(object == ["error": "invalid_request", "error_description": "The \"code\" parameter\\is missing."])
        #expect(response.status == .badRequest && response.headers[.cacheControl] == "no-store")
    }

    @Test("RFC 9110 §5.6.3: spaces and tabs around a media type or a cookie are optional whitespace, nothing else is")
    func optionalWhitespace() {
        func request(_ fields: HTTPFields) -> Request {
            Request(
                head: HTTPRequest(method: .post, scheme: "http", authority: "a", path: "/token", headerFields: fields),
                body: .init(buffer: ByteBuffer()))
        }
        let form = "application/x-www-form-urlencoded"
        #expect(RequestReading.hasContentType(request([.contentType: form]), form))
        #expect(RequestReading.hasContentType(request([.contentType: " \tApplication/X-WWW-Form-URLEncoded \t; charset=utf-8"]), form))
        #expect(!RequestReading.hasContentType(request([.contentType: "application/x-www-form-urlencodedx"]), form))
        #expect(!RequestReading.hasContentType(request([.contentType: "application/json"]), form))
        #expect(!RequestReading.hasContentType(request([.contentType: ""]), form))
        #expect(
            !RequestReading.hasContentType(request([.contentType: "\u{A0}application/x-www-form-urlencoded"]), form),
            "only SP and HTAB are OWS")
        #expect(!RequestReading.hasContentType(request([.contentType: ";application/x-www-form-urlencoded"]), form))
        #expect(!RequestReading.hasContentType(request([:]), form))

        #expect(RequestReading.cookie(request([.cookie: "a=1;  pixy_session=abc\t; b=2"]), named: "pixy_session") == "abc")
        #expect(RequestReading.cookie(request([.cookie: "xpixy_session=abc"]), named: "pixy_session") == nil)
        #expect(RequestReading.cookie(request([.cookie: "PIXY_SESSION=abc"]), named: "pixy_session") == nil, "names are case-sensitive")
        #expect(RequestReading.cookie(request([.cookie: "\u{A0}pixy_session=abc"]), named: "pixy_session") == nil)
        #expect(
            RequestReading.cookie(request([.cookie: "pixy_session=a; pixy_session=b"]), named: "pixy_session") == nil,
            "sent twice: ambiguous")
        var split = HTTPFields()
        split.append(HTTPField(name: .cookie, value: "a=1"))
        split.append(HTTPField(name: .cookie, value: "pixy_session=v=w"))
        #expect(RequestReading.cookie(request(split), named: "pixy_session") == "v=w")
        #expect(RequestReading.cookie(request([.cookie: "pixy_session="]), named: "pixy_session") == "")
    }
}

/// The bytes a response body wrote.
private final class Collected: @unchecked Sendable {
    var bytes: [UInt8] = []
}

/// Collects a response body into ``Collected``.
private struct CollectingWriter: ResponseBodyWriter {
    let collected: Collected
    mutating func write(_ buffer: ByteBuffer) async throws { collected.bytes.append(contentsOf: buffer.readableBytesView) }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
