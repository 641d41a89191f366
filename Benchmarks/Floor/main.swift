// pixy-bench-floor: what the benchmark's two requests cost on Pixy's HTTP stack with no OAuth work.
//
// `GET /authorize` answers 302 to `redirect_uri` with a fresh random code, `POST /token` reads the
// form and answers a fixed-shape token response, on Hummingbird with the same event loops as
// `pixy serve` and no middleware, store, log line or validation. With `--sign` the token is an
// ES256 JWT signed per request, as Pixy's is. Driven by the same wrk script as the servers in
// Benchmarks/bench-flows, it bounds from above what any server on this stack can reach here
// (docs/performance.md, "The floor of the stack"). It is a measuring tool, not a server: it
// checks nothing. Codes, opaque tokens and token ids come from Pixy's own generator and encoder
// (`SecureRandom`, `Base64URL`), at the sizes Pixy uses.
import Crypto
import Foundation
import Hummingbird
import PixyModel

let arguments = CommandLine.arguments
let port = arguments.firstIndex(of: "--port").flatMap { Int(arguments[$0 + 1]) } ?? 8199
let signs = arguments.contains("--sign")
let key = P256.Signing.PrivateKey()
let header = Base64URL.encode(#"{"alg":"ES256","typ":"at+jwt","kid":"floor"}"#.utf8) + "."

let router = Router()
router.get("/authorize") { request, _ -> Response in
    let redirect = request.uri.queryParameters["redirect_uri"].map(String.init) ?? "http://127.0.0.1:9999/cb"
    return Response(status: .found, headers: [.location: "\(redirect)?code=\(SecureRandom.token())&state=bench"])
}
router.post("/token") { request, _ -> Response in
    _ = try await request.body.collect(upTo: 65_536)
    var token = SecureRandom.token()
    if signs {
        let payload =
            #"{"iss":"http://127.0.0.1","sub":"bench","aud":"http://127.0.0.1","client_id":"bench-client","jti":""#
            + SecureRandom.token(byteCount: 16) + #"","iat":1,"exp":2}"#
        let input = header + Base64URL.encode(payload.utf8)
        token = input + "." + Base64URL.encode(try key.signature(for: Array(input.utf8)).rawRepresentation)
    }
    let body = #"{"access_token":""# + token + #"","token_type":"Bearer","expires_in":3600}"#
    return Response(
        status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
        body: .init(byteBuffer: ByteBuffer(string: body)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
