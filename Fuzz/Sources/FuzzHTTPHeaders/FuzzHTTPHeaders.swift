// Fuzz target: request header parsing in Sources/PixyHTTP/HTTPSupport.swift (`RequestReading`:
// Cookie, `Authorization: Basic`, Content-Type, the query string) and the PKCE parsing in
// Sources/PixyModel (CodeVerifier, CodeChallenge, Base64URL).
//
// Invariants:
// - a cookie value found is the text after `name=` in the header and never contains ';';
//   a cookie written next to others is read back exactly;
// - Basic credentials built as RFC 6749 §2.3.1 says (base64 of urlencode(id) ":" urlencode(secret))
//   are read back exactly, whatever the bytes; an accepted header never yields an empty client id;
// - the query reader agrees with FormParameters on the URI's query;
// - CodeVerifier accepts exactly 43...128 unreserved bytes (RFC 7636 §4.1), and its S256
//   challenge parses and is satisfied by it (RFC 7636 §4.6);
// - CodeChallenge accepts only 43 base64url characters encoding 32 bytes, in canonical form;
// - Base64URL decode ∘ encode is the identity, and encode ∘ decode is too when decode succeeds.
import Foundation
import FuzzSupport
import HTTPTypes
import Hummingbird
import NIOCore
import PixyCore
@testable import PixyHTTP
import PixyModel

let cookieName = "pixy_session"

func request(path: String = "/", _ fields: [(HTTPField.Name, String)]) -> Request {
    var headers = HTTPFields()
    for (name, value) in fields { headers.append(HTTPField(name: name, value: value)) }
    let head = HTTPRequest(method: .get, scheme: "https", authority: "auth.example.com", path: path, headerFields: headers)
    return Request(head: head, body: RequestBody(buffer: ByteBuffer()))
}

func containsBytes(_ haystack: String, _ needle: String) -> Bool {
    let hay = Array(haystack.utf8), pin = Array(needle.utf8)
    guard pin.count <= hay.count else { return false }
    if pin.isEmpty { return true }
    return (0...(hay.count - pin.count)).contains { hay[$0..<($0 + pin.count)].elementsEqual(pin) }
}

func checkCookies(_ text: String, _ input: [UInt8]) {
    let raw = request([(.cookie, text)])
    for name in [cookieName, "a"] {
        if let value = RequestReading.cookie(raw, named: name) {
            require(!value.contains(";"), "cookie value contains ';': \(value)")
            let header = raw.headers[values: .cookie].joined(separator: "\n")
            require(containsBytes(header, "\(name)=\(value)"), "cookie value \(value) is not in the header")
        }
    }
    // A value of cookie-octets (RFC 6265 §4.1.1, minus the quote) among other cookies reads back exactly.
    let octets = input.filter { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ";") && $0 != UInt8(ascii: "\"") }
    let value = String(decoding: octets, as: UTF8.self)
    let built = request([(.cookie, "theme=dark; \(cookieName)=\(value); lang=en")])
    require(RequestReading.cookie(built, named: cookieName) == value, "cookie \(value) was not read back")
    // Sent twice, it is refused (the reader takes a cookie only if present once).
    let twice = request([(.cookie, "\(cookieName)=\(value)"), (.cookie, "\(cookieName)=\(value)")])
    require(RequestReading.cookie(twice, named: cookieName) == nil, "a cookie sent twice was accepted")
}

func checkBasic(_ text: String, _ input: [UInt8]) {
    for header in [text, "Basic " + text] {
        switch RequestReading.basicCredentials(request([(.authorization, header)])) {
        case .success(let credentials)?:
            require(!credentials.clientID.isEmpty, "Basic credentials with an empty client id were accepted")
        case .failure(let error)?:
            require(error.code == .invalidClient, "a malformed Basic header gave \(error.code), not invalid_client")
        case nil:
            break
        }
    }
    let (idBytes, secretBytes) = splitOnce(input, at: UInt8(ascii: ":"))
    let id = String(decoding: idBytes, as: UTF8.self), secret = String(decoding: secretBytes ?? [], as: UTF8.self)
    let encoded = Data("\(FormParameters.percentEncode(id)):\(FormParameters.percentEncode(secret))".utf8).base64EncodedString()
    // The scheme is case-insensitive (RFC 9110 §11.1); one spelling per input keeps runs fast.
    for scheme in [["Basic", "basic", "BASIC"][input.count % 3]] {
        let parsed = RequestReading.basicCredentials(request([(.authorization, "\(scheme) \(encoded)")]))
        switch parsed {
        case .success(let credentials)?:
            require(credentials.clientID == id && credentials.secret == secret, "Basic credentials did not round-trip")
        case .failure?:
            // Refused only for an empty id or a control character (no credential may carry one).
            let hasControl = (id + secret).utf8.contains { $0 < 0x20 || $0 == 0x7F }
            require(id.isEmpty || hasControl, "well-formed Basic credentials were refused")
        case nil:
            require(false, "a Basic header was not recognised")
        }
    }
}

func checkContentTypeAndQuery(_ text: String) {
    let typed = request([(.contentType, text)])
    if RequestReading.hasContentType(typed, "application/json") {
        require(text.lowercased().contains("application/json"), "\(text) was taken for application/json")
    }
    let withQuery = request(path: "/authorize?" + text, [])
    let query = RequestReading.query(withQuery)
    let direct = FormParameters(urlEncoded: withQuery.uri.query ?? "")
    require((query == nil) == (direct == nil), "the query reader disagrees with FormParameters")
    if let query, let direct {
        require(
            query.pairs.count == direct.pairs.count && zip(query.pairs, direct.pairs).allSatisfy { $0 == $1 },
            "the query reader disagrees with FormParameters")
    }
}

func checkPKCE(_ text: String, _ input: [UInt8]) {
    let bytes = Array(text.utf8)
    let shouldBeVerifier = (43...128).contains(bytes.count) && bytes.allSatisfy(CodeVerifier.isUnreserved)
    let verifier = CodeVerifier(text)
    require((verifier != nil) == shouldBeVerifier, "CodeVerifier validity is wrong for \(bytes)")
    if let verifier {
        let challenge = verifier.challenge
        require(CodeChallenge(challenge.value) == challenge, "an S256 challenge does not parse")
        require(challenge.isSatisfied(by: verifier), "a verifier does not satisfy its own challenge")
    }
    if let challenge = CodeChallenge(text) {
        require(bytes.count == 43, "a challenge of \(bytes.count) bytes was accepted")
        guard let decoded = Base64URL.decode(text) else { require(false, "an accepted challenge does not decode"); return }
        require(decoded.count == 32 && Base64URL.encode(decoded) == text, "an accepted challenge is not canonical")
        require((try? PKCEPolicy.challenge(value: text, method: "S256")) == challenge, "PKCEPolicy disagrees with CodeChallenge")
        require((try? PKCEPolicy.challenge(value: text, method: "plain")) == nil, "PKCEPolicy accepted plain")
    } else {
        require((try? PKCEPolicy.challenge(value: text, method: "S256")) == nil, "PKCEPolicy accepted a refused challenge")
    }
    if let decoded = Base64URL.decode(text) {
        require(Base64URL.encode(decoded) == text, "Base64URL decoding accepted a non-canonical spelling: \(text)")
    }
    let encoded = Base64URL.encode(input)
    require(encoded.utf8.allSatisfy(Base64URL.isAlphabetByte), "Base64URL encoding left the alphabet")
    require(Base64URL.decode(encoded) == input, "Base64URL did not round-trip")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHeaders(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = bytes(start, count)
    let text = String(decoding: input, as: UTF8.self)
    checkCookies(text, input)
    checkBasic(text, input)
    checkContentTypeAndQuery(text)
    checkPKCE(text, input)
    return 0
}
