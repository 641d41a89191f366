// Fuzz target: application/x-www-form-urlencoded decoding (Sources/PixyCore/RFC6749/FormParameters.swift)
// and the authorization request validation it feeds (Sources/PixyCore/RFC6749/AuthorizationRequest.swift).
//
// Invariants:
// - decoding the bytes and decoding the same text as a String agree;
// - decode → encode → decode gives the same pairs (names and values survive percent-encoding);
// - `percentEncode` emits only unreserved characters and `%XX`, and `percentDecode` inverts it;
// - `values`, `single` and `repeatedNames` agree with `pairs`;
// - an accepted authorization request names the fixed client, a registered redirect URI, an
//   S256 challenge and a supported scope (RFC 6749 §4.1.1, RFC 7636 §4.3); an error sent to a
//   redirect URI only ever goes to a registered one (docs/threat-model.md).
import Foundation
import FuzzSupport
import PixyCore
import PixyModel

let policy = ServerPolicy(issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write", "admin"]))
let registeredRedirects = ["https://app.example.com/cb", "http://127.0.0.1/cb", "http://[::1]/cb", "com.example.app:/cb"]
let store: InMemoryStore = {
    let store = InMemoryStore()
    let client = Client(
        clientID: "app", redirectURIs: registeredRedirects, scope: Scope(validatedTokens: ["read"]),
        createdAt: Date(timeIntervalSince1970: 1_700_000_000))
    let single = Client(
        clientID: "single", redirectURIs: ["https://app.example.com/cb"], createdAt: Date(timeIntervalSince1970: 1_700_000_000))
    runBlocking {
        try! await store.save(client)
        try! await store.save(single)
    }
    return store
}()
let validator = AuthorizationRequestValidator(clients: store, policy: policy)

func samePairs(_ a: [(name: String, value: String)], _ b: [(name: String, value: String)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.name == $1.name && $0.value == $1.value }
}

func isEncodedByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"):
        return true
    default:
        return false
    }
}

func checkValidation(_ form: FormParameters) {
    let outcome: Result<AuthorizationRequest, AuthorizationRequestError> = runBlocking {
        do throws(AuthorizationRequestError) { return .success(try await validator.validate(form)) } catch { return .failure(error) }
    }
    switch outcome {
    case .success(let request):
        require(request.clientID == "app" || request.clientID == "single", "accepted an unknown client \(request.clientID)")
        let registered = request.clientID == "app" ? registeredRedirects : ["https://app.example.com/cb"]
        require(
            RedirectURIMatcher.match(requested: request.redirectURI, in: registered) != nil,
            "accepted an unregistered redirect URI \(request.redirectURI)")
        require(request.scope.isSubset(of: policy.scopesSupported), "granted an unsupported scope \(request.scope)")
        require(CodeChallenge(request.codeChallenge.value) != nil, "accepted a malformed challenge")
        require(form.values("code_challenge_method") == ["S256"], "accepted a challenge method other than S256")
        require(form.values("response_type") == ["code"], "accepted a response_type other than code")
        require(
            form.repeatedNames.allSatisfy { $0 == "resource" } && form.values("resource").count <= 1,
            "accepted repeated parameters \(form.repeatedNames)")
        if let state = request.state { require(form.values("state") == [state], "state was not echoed as sent") }
    case .failure(let error):
        if let redirect = error.redirect {
            require(
                RedirectURIMatcher.match(requested: redirect.uri, in: registeredRedirects) != nil,
                "an error would be redirected to an unregistered URI \(redirect.uri)")
            if let state = redirect.state { require(form.values("state") == [state], "an error echoes a state that was not sent once") }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzForm(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = bytes(start, count)
    let decoded = FormParameters(urlEncoded: input)
    let decodedString = FormParameters(urlEncoded: String(decoding: input, as: UTF8.self))
    if input.allSatisfy({ $0 < 0x80 }) {
        // For ASCII the String initialiser sees the same bytes.
        require((decoded == nil) == (decodedString == nil), "byte and string decoding disagree on validity")
        if let decoded, let decodedString {
            require(samePairs(decoded.pairs, decodedString.pairs), "byte and string decoding disagree")
        }
    }
    if let form = decoded {
        let encoded = FormParameters.encode(form.pairs.map { ($0.name, $0.value) })
        require(
            encoded.utf8.allSatisfy { isEncodedByte($0) || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "&") },
            "encoding produced a reserved character: \(encoded)")
        guard let again = FormParameters(urlEncoded: encoded) else {
            require(false, "re-decoding the encoded form failed: \(encoded)")
            return 0
        }
        require(samePairs(form.pairs, again.pairs), "decode → encode → decode changed the pairs: \(encoded)")

        // Each check is linear in the pairs, so only the first few names are checked (a 4 KiB
        // input can hold 2000 pairs).
        let repeated = Set(form.repeatedNames)
        for pair in form.pairs.prefix(16) {
            let values = form.values(pair.name)
            require(values == form.pairs.filter { $0.name == pair.name && !$0.value.isEmpty }.map(\.value), "values() disagrees with pairs")
            do {
                let single = try form.single(pair.name)
                require(values.count <= 1 && single == values.first, "single() returned a value despite repeats")
            } catch {
                require(values.count > 1, "single() threw without repeats")
            }
            require(repeated.contains(pair.name) == (values.count > 1), "repeatedNames disagrees with values()")
        }
        checkValidation(form)
    }
    // Any text without control characters survives percent-encoding; text with one is refused
    // when decoded (FormParameters.percentDecode: no parameter may carry a control character).
    let text = String(decoding: input, as: UTF8.self)
    let encoded = FormParameters.percentEncode(text)
    require(encoded.utf8.allSatisfy(isEncodedByte), "percentEncode left a reserved character")
    let hasControl = text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    let roundTrip = FormParameters.percentDecode(Array(encoded.utf8))
    require(hasControl ? roundTrip == nil : roundTrip == text, "percentDecode(percentEncode(x)) != x, or a control character got through")
    return 0
}
