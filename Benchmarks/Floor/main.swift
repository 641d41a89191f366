// pixy-bench-floor: what the benchmark's two requests cost on Pixy's HTTP stack with no OAuth work.
//
// `GET /authorize` answers 302 to `redirect_uri` with a fresh random code, `POST /token` reads the
// form and answers a fixed-shape token response, on Hummingbird with the same event loops as
// `pixy serve` and no middleware, store, log line or validation. With `--sign` the token is an
// ES256 JWT signed per request, as Pixy's is. Driven by the same wrk script as the servers in
// Benchmarks/bench-flows, it bounds from above what any server on this stack can reach here
// (docs/performance.md, "The floor of the stack"). It is a measuring tool, not a server: it
// checks nothing.
import Crypto
import Foundation
import Hummingbird

let arguments = CommandLine.arguments
let port = arguments.firstIndex(of: "--port").flatMap { Int(arguments[$0 + 1]) } ?? 8199
let signs = arguments.contains("--sign")
let key = P256.Signing.PrivateKey()
let header = base64URL(Array(#"{"alg":"ES256","typ":"at+jwt","kid":"floor"}"#.utf8)) + "."

/// Base64url without padding, written directly: Foundation's encoder and string replacing would
/// make the floor slower than the server it bounds.
func base64URL<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    let input = Array(bytes)
    var output = [UInt8]()
    output.reserveCapacity((input.count * 4 + 2) / 3)
    var index = 0
    while index < input.count {
        let chunk = input[index..<min(index + 3, input.count)]
        let value = chunk.enumerated().reduce(0) { $0 | Int($1.element) << (16 - 8 * $1.offset) }
        for position in 0...chunk.count { output.append(alphabet[(value >> (18 - 6 * position)) & 63]) }
        index += 3
    }
    return String(decoding: output, as: UTF8.self)
}

/// 16 random bytes, base64url: the size of Pixy's codes, from two calls to the system generator.
func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    let words = [generator.next(), generator.next()] as [UInt64]
    return base64URL(words.withUnsafeBytes { Array($0) })
}

let router = Router()
router.get("/authorize") { request, _ -> Response in
    let redirect = request.uri.queryParameters["redirect_uri"].map(String.init) ?? "http://127.0.0.1:9999/cb"
    return Response(status: .found, headers: [.location: "\(redirect)?code=\(randomToken())&state=bench"])
}
router.post("/token") { request, _ -> Response in
    _ = try await request.body.collect(upTo: 65_536)
    var token = "floor-\(randomToken())"
    if signs {
        let payload =
            #"{"iss":"http://127.0.0.1","sub":"bench","aud":"http://127.0.0.1","client_id":"bench-client","jti":""#
            + randomToken() + #"","iat":1,"exp":2}"#
        let input = header + base64URL(payload.utf8)
        token = input + "." + base64URL(try key.signature(for: Array(input.utf8)).rawRepresentation)
    }
    let body = #"{"access_token":""# + token + #"","token_type":"Bearer","expires_in":3600}"#
    return Response(
        status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: body)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
