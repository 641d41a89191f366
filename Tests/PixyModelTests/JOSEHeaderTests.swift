import Foundation
import PixyModel
import Testing

@Suite("RFC 7515 §4.1: the JWS header both token verifiers read")
struct JOSEHeaderTests {
    static func token(header: String) -> String {
        Base64URL.encode(Array(header.utf8)) + ".e30.c2ln"
    }

    @Test("alg, typ and kid are read from a compact token's header")
    func readsMembers() throws {
        let header = try #require(JOSEHeader(compactToken: Self.token(header: #"{"alg":"ES256","typ":"at+jwt","kid":"k1"}"#)))
        #expect(header.algorithm == "ES256")
        #expect(header.type == "at+jwt")
        #expect(header.keyID == "k1")
        #expect(header.isPlain)
    }

    @Test(
        "RFC 7515 §4.1.11: a crit member or a member that is not a string makes the header not plain",
        arguments: [
            #"{"alg":"ES256","typ":"at+jwt","kid":"k1","crit":["b64"],"b64":false}"#,
            #"{"alg":"ES256","typ":"at+jwt","kid":"k1","jwk":{"kty":"EC"}}"#,
            #"{"alg":"ES256","typ":"at+jwt","kid":"k1","x":1}"#,
        ])
    func unusualHeaders(header: String) throws {
        #expect(try #require(JOSEHeader(compactToken: Self.token(header: header))).isPlain == false)
    }

    @Test(
        "RFC 7515 §7.1: anything but three dot-separated parts with a JSON object header is no JWS",
        arguments: ["", "a.b", "a.b.c.d", "!!!.e30.c2ln", Base64URL.encode(Array("[1]".utf8)) + ".e30.c2ln"])
    func malformed(token: String) {
        #expect(JOSEHeader(compactToken: token) == nil)
    }
}
