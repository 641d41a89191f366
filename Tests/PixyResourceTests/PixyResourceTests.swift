import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import NIOCore
import PixyCore
import PixyJWT
import PixyModel
@testable import PixyResource
import PixyTesting
import Synchronization
import Testing

/// An issuer for tests: Pixy's own signing keys (PixyJWT) behind a fake HTTP client that serves
/// the RFC 8414 metadata and JWKS, answers introspection, and counts what was fetched.
final class FakeIssuer: IssuerClient, @unchecked Sendable {
    static let issuer = "https://auth.example.com"
    static let resource = "https://mcp.example.com/mcp"
    let clock = ManualClock()
    let store: InMemoryStore
    private let state = Mutex<(ring: SigningKeyRing?, fetches: [String], reachable: Bool, introspection: Data?)>((nil, [], true, nil))

    init() async throws {
        store = InMemoryStore(clock: clock)
        let ring = try await SigningKeyRing.load(from: store, clock: clock, issuer: Self.issuer)
        state.withLock { $0.ring = ring }
    }

    var ring: SigningKeyRing { state.withLock { $0.ring! } }
    var fetches: [String] { state.withLock { $0.fetches } }
    var jwksFetches: Int { fetches.filter { $0.hasSuffix("/jwks.json") }.count }

    func setReachable(_ reachable: Bool) { state.withLock { $0.reachable = reachable } }
    func setIntrospectionAnswer(_ answer: [String: Any]) {
        let data = try! JSONSerialization.data(withJSONObject: answer)
        state.withLock { $0.introspection = data }
    }

    /// `pixy keys rotate`: a new current key; the JWKS now lists both.
    func rotate() async throws {
        _ = try await SigningKeyRing.rotate(in: store, clock: clock)
        let ring = try await SigningKeyRing.load(from: store, clock: clock, issuer: Self.issuer)
        state.withLock { $0.ring = ring }
    }

    private let gate = Mutex<(closed: Bool, waiting: [CheckedContinuation<Void, Never>], inFlight: Int, maxInFlight: Int)>(
        (false, [], 0, 0))

    /// Holds every GET until ``openGate()``.
    func closeGate() { gate.withLock { $0.closed = true } }
    func openGate() {
        let waiting = gate.withLock { gate in
            gate.closed = false
            defer { gate.waiting = [] }
            return gate.waiting
        }
        waiting.forEach { $0.resume() }
    }
    /// The most GETs that were under way at once.
    var maxConcurrentFetches: Int { gate.withLock { $0.maxInFlight } }

    func get(_ url: String) async throws -> Data {
        await withCheckedContinuation { continuation in
            let proceed = gate.withLock { gate in
                gate.inFlight += 1
                gate.maxInFlight = max(gate.maxInFlight, gate.inFlight)
                if gate.closed { gate.waiting.append(continuation) }
                return !gate.closed
            }
            if proceed { continuation.resume() }
        }
        defer { gate.withLock { $0.inFlight -= 1 } }
        let (reachable, jwks) = state.withLock { state in
            state.fetches.append(url)
            return (state.reachable, state.ring!.jwksJSON)
        }
        guard reachable else { throw URLError(.cannotConnectToHost) }
        switch url {
        case "https://auth.example.com/.well-known/oauth-authorization-server":
            return Data(
                #"{"issuer":"https://auth.example.com","jwks_uri":"https://auth.example.com/jwks.json","introspection_endpoint":"https://auth.example.com/introspect"}"#
                    .utf8)
        case "https://auth.example.com/jwks.json":
            return Data(jwks.utf8)
        default:
            throw URLError(.badURL)
        }
    }

    func post(_ url: String, form: [(String, String)], basicCredentials: (String, String)) async throws -> Data {
        let answer = state.withLock { state in
            state.fetches.append(url)
            return state.introspection
        }
        guard url == "https://auth.example.com/introspect", basicCredentials == ("rs", "rs-secret"), let answer else {
            throw URLError(.userAuthenticationRequired)
        }
        return answer
    }

    /// A token as Pixy issues it.
    func token(audience: String = resource, scope: String = "read", issuer: String = issuer, lifetime: TimeInterval = 900) async throws
        -> String
    {
        try await ring.issueAccessToken(
            AccessTokenClaims(
                issuer: issuer, subject: "user-1", audience: audience, clientID: "app", scope: Scope(parsing: scope)!,
                issuedAt: clock.now(), expiresAt: clock.now().addingTimeInterval(lifetime), tokenID: "jti-\(UUID().uuidString)",
                authTime: nil))
    }

    /// A token signed with the issuer's *current private key* but a chosen header, to test the
    /// checks that do not depend on the signature.
    func forged(typ: String = "at+jwt", kid: String? = nil, key: ES256PrivateKey? = nil) async throws -> String {
        let pem = try await store.allSigningKeys().first { $0.kid == ring.currentKeyID }!.privateKeyPEM
        let signingKey = try key ?? ES256PrivateKey(pem: pem)
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: signingKey, kid: JWKIdentifier(string: kid ?? ring.currentKeyID))
        struct Claims: JWTPayload {
            var iss = IssuerClaim(value: FakeIssuer.issuer)
            var sub = SubjectClaim(value: "user-1")
            var aud = AudienceClaim(value: FakeIssuer.resource)
            var exp: ExpirationClaim
            var client_id = "app"
            var scope = "read write"
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        var header = JWTHeader()
        header.typ = typ
        header.kid = kid ?? ring.currentKeyID
        return try await keys.sign(Claims(exp: ExpirationClaim(value: clock.now().addingTimeInterval(900))), header: header)
    }

    func verifier(_ configure: (inout ProtectedResource) -> Void = { _ in }) -> AccessTokenVerifier {
        var resource = ProtectedResource(resource: Self.resource, issuer: Self.issuer, scopesSupported: ["read", "write"])
        configure(&resource)
        let clock = clock
        return AccessTokenVerifier(resource: resource, client: self, now: { clock.now() })
    }
}

@Suite("PixyResource: access token verification (RFC 9068, RFC 8707)")
struct AccessTokenVerifierTests {
    @Test("RFC 9068: Pixy's token for this resource passes; subject, client and scopes come through")
    func validToken() async throws {
        let issuer = try await FakeIssuer()
        let verified = try await issuer.verifier().verify(try await issuer.token(scope: "read write"))
        #expect(verified.subject == "user-1" && verified.clientID == "app" && verified.scopes == ["read", "write"])
    }

    @Test("RFC 8707 / MCP: a token whose aud names another resource is refused")
    func wrongAudience() async throws {
        let issuer = try await FakeIssuer()
        await #expect(throws: TokenRejection.self) {
            _ = try await issuer.verifier().verify(try await issuer.token(audience: "https://other.example/mcp"))
        }
        #expect(
            await rejection { _ = try await issuer.verifier().verify(try await issuer.token(audience: "https://other.example/mcp")) }
                == .wrongAudience)
    }

    @Test("RFC 9068 §4: iss must be the configured issuer")
    func wrongIssuer() async throws {
        let issuer = try await FakeIssuer()
        await #expect(throws: TokenRejection.self) {
            _ = try await issuer.verifier().verify(try await issuer.token(issuer: "https://evil.example.com"))
        }
        #expect(
            await rejection { _ = try await issuer.verifier().verify(try await issuer.token(issuer: "https://evil.example.com")) }
                == .wrongIssuer)
    }

    @Test("RFC 9068 §4: typ must be at+jwt, so an ID token or another JWT signed by the same key is refused")
    func wrongType() async throws {
        let issuer = try await FakeIssuer()
        let verifier = issuer.verifier()
        _ = try await verifier.verify(try await issuer.forged(typ: "at+jwt"))
        await #expect(throws: TokenRejection.self) { _ = try await verifier.verify(try await issuer.forged(typ: "JWT")) }
        #expect(await rejection { _ = try await verifier.verify(try await issuer.forged(typ: "JWT")) } == .malformed)
    }

    @Test("exp is checked against the injected clock with the configured skew")
    func expiryWithSkew() async throws {
        let issuer = try await FakeIssuer()
        let token = try await issuer.token(lifetime: 60)
        let verifier = issuer.verifier { $0.clockSkew = .seconds(30) }
        issuer.clock.advance(by: .seconds(80))
        _ = try await verifier.verify(token)
        issuer.clock.advance(by: .seconds(11))
        await #expect(throws: TokenRejection.self) { _ = try await verifier.verify(token) }
        #expect(await rejection { _ = try await verifier.verify(token) } == .expired)
    }

    @Test("No fallback: a token signed by another key under the issuer's kid is refused")
    func foreignKeySameKid() async throws {
        let issuer = try await FakeIssuer()
        await #expect(throws: TokenRejection.self) {
            _ = try await issuer.verifier().verify(try await issuer.forged(key: ES256PrivateKey()))
        }
        #expect(
            await rejection { _ = try await issuer.verifier().verify(try await issuer.forged(key: ES256PrivateKey())) } == .invalidSignature
        )
    }

    @Test("Unknown kid: the JWKS is fetched again at most once per interval; a rotated key is then accepted")
    func unknownKidRefetch() async throws {
        let issuer = try await FakeIssuer()
        let verifier = issuer.verifier { $0.keyRefetchInterval = .seconds(60) }
        _ = try await verifier.verify(try await issuer.token())
        #expect(issuer.jwksFetches == 1)
        for _ in 0..<5 {
            await #expect(throws: TokenRejection.self) { _ = try await verifier.verify(try await issuer.forged(kid: "forged-\(UUID())")) }
        }
        #expect(issuer.jwksFetches == 1, "forged kids within the interval cause no fetch (the first fetch was just now)")
        issuer.clock.advance(by: .seconds(61))
        try await issuer.rotate()
        let rotated = try await issuer.token()
        _ = try await verifier.verify(rotated)
        #expect(issuer.jwksFetches == 2, "one refetch found the new key")
        for _ in 0..<5 {
            await #expect(throws: TokenRejection.self) { _ = try await verifier.verify(try await issuer.forged(kid: "forged-\(UUID())")) }
        }
        #expect(issuer.jwksFetches == 2)
    }

    @Test(
        "Back-off: after a failed issuer fetch no request refetches until the back-off passes on the injected clock; it doubles per failure"
    )
    func backOffAfterFailure() async throws {
        let issuer = try await FakeIssuer()
        let verifier = issuer.verifier { $0.keyRefetchInterval = .seconds(60) }
        let token = try await issuer.token()
        issuer.setReachable(false)
        func refusedAsUnavailable() async {
            do {
                _ = try await verifier.verify(token)
                Issue.record("accepted without keys")
            } catch {
                #expect(error.isIssuerUnavailable)
            }
        }
        for _ in 0..<5 { await refusedAsUnavailable() }
        #expect(issuer.fetches.count == 1, "one failed fetch, then the back-off")
        issuer.clock.advance(by: AccessTokenVerifier.initialRetryDelay + .milliseconds(1))
        for _ in 0..<5 { await refusedAsUnavailable() }
        #expect(issuer.fetches.count == 2, "one retry after the first back-off")
        issuer.clock.advance(by: AccessTokenVerifier.initialRetryDelay + .milliseconds(1))
        await refusedAsUnavailable()
        #expect(issuer.fetches.count == 2, "the second back-off is twice as long")
        issuer.clock.advance(by: AccessTokenVerifier.initialRetryDelay)
        issuer.setReachable(true)
        _ = try await verifier.verify(token)
        #expect(issuer.fetches.count == 4, "the retry fetched metadata and keys")
    }

    @Test(
        "Single flight: concurrent verifications before any keys are known share one metadata fetch and one JWKS fetch",
        .timeLimit(.minutes(1)))
    func singleFlightFirstFetch() async throws {
        let issuer = try await FakeIssuer()
        let verifier = issuer.verifier()
        let token = try await issuer.token()
        issuer.closeGate()
        let verifications = (0..<8).map { _ in Task { try await verifier.verify(token) } }
        while await verifier.issuerFetchWaiters < 8 { try await Task.sleep(for: .milliseconds(5)) }
        issuer.openGate()
        for verification in verifications { #expect(try await verification.value.subject == "user-1") }
        #expect(issuer.fetches.count == 2)
        #expect(issuer.maxConcurrentFetches == 1)
    }

    @Test(
        "Single flight: N concurrent verifications with an unknown kid cause one JWKS refetch, never several in flight",
        .timeLimit(.minutes(1)))
    func singleFlightUnknownKid() async throws {
        let issuer = try await FakeIssuer()
        let verifier = issuer.verifier { $0.keyRefetchInterval = .seconds(60) }
        _ = try await verifier.verify(try await issuer.token())
        #expect(issuer.jwksFetches == 1)
        issuer.clock.advance(by: .seconds(61))
        let forged = try await issuer.forged(kid: "forged-\(UUID())")
        issuer.closeGate()
        let verifications = (0..<8).map { _ in Task { try await verifier.verify(forged) } }
        while await verifier.issuerFetchWaiters < 8 { try await Task.sleep(for: .milliseconds(5)) }
        issuer.openGate()
        for verification in verifications { await #expect(throws: TokenRejection.self) { _ = try await verification.value } }
        #expect(issuer.jwksFetches == 2)
        #expect(issuer.maxConcurrentFetches == 1)
    }

    @Test("The issuer unreachable before any keys are known: the rejection says so (the middleware answers 503)")
    func issuerDown() async throws {
        let issuer = try await FakeIssuer()
        issuer.setReachable(false)
        do {
            _ = try await issuer.verifier().verify(try await issuer.token())
            Issue.record("accepted without keys")
        } catch let rejection as TokenRejection {
            #expect(rejection.isIssuerUnavailable)
        }
    }

    @Test("RFC 7662 mode: only active tokens for this resource pass; the issuer is asked every time")
    func introspection() async throws {
        let issuer = try await FakeIssuer()
        let verifier = issuer.verifier { $0.verification = .introspection(clientID: "rs", clientSecret: "rs-secret") }
        let exp = issuer.clock.now().addingTimeInterval(600).timeIntervalSince1970
        issuer.setIntrospectionAnswer([
            "active": true, "sub": "user-1", "client_id": "app", "scope": "read", "aud": FakeIssuer.resource,
            "iss": FakeIssuer.issuer, "exp": exp,
        ])
        #expect(try await verifier.verify("opaque-or-jwt").scopes == ["read"])
        issuer.setIntrospectionAnswer(["active": false])
        await #expect(throws: TokenRejection.self) { _ = try await verifier.verify("opaque-or-jwt") }
        issuer.setIntrospectionAnswer(["active": true, "sub": "user-1", "client_id": "app", "aud": "https://other.example/", "exp": exp])
        await #expect(throws: TokenRejection.self) { _ = try await verifier.verify("opaque-or-jwt") }
        #expect(issuer.fetches.filter { $0.hasSuffix("/introspect") }.count == 3)
    }
}

@Suite("PixyResource: bearer challenges and Protected Resource Metadata (RFC 6750, RFC 9728)")
struct BearerMiddlewareTests {
    func app(_ issuer: FakeIssuer, metrics: RecordingFactory = RecordingFactory()) -> some ApplicationProtocol {
        let resource = ProtectedResource(
            resource: FakeIssuer.resource, issuer: FakeIssuer.issuer, scopesSupported: ["read", "write"],
            resourceName: "Test MCP")
        let verifier = issuer.verifier()
        let router = Router(context: ResourceRequestContext.self)
        router.addProtectedResourceMetadata(resource)
        router.group("/mcp")
            .add(
                middleware: BearerAuthenticationMiddleware(resource: resource, verifier: verifier, metrics: metrics) { request, _ in
                    (request, request.uri.queryParameters["tool"] == "write" ? ["write"] : ["read"])
                }
            )
            .get("") { _, context in "hello \(context.accessToken?.subject ?? "nobody")" }
        return Application(router: router)
    }

    @Test("Bearer checks are counted by result: ok, missing, malformed, wrong audience, expired, insufficient scope; never the token")
    func checksAreCounted() async throws {
        let issuer = try await FakeIssuer()
        let metrics = RecordingFactory()
        let good = try await issuer.token()
        let elsewhere = try await issuer.token(audience: "https://other.example.com/mcp")
        let expired = try await issuer.token(lifetime: -3600)
        try await app(issuer, metrics: metrics).test(.router) { client in
            for header in [nil, "Basic abc", "Bearer \(good)", "Bearer \(elsewhere)", "Bearer \(expired)"] {
                var headers: HTTPFields = [:]
                if let header { headers[.authorization] = header }
                _ = try await client.execute(uri: "/mcp", method: .get, headers: headers)
            }
            _ = try await client.execute(uri: "/mcp?tool=write", method: .get, headers: [.authorization: "Bearer \(good)"])
        }
        let metric = BearerAuthenticationMiddleware<ResourceRequestContext>.checksMetric
        #expect(
            metrics.counted
                == ["missing", "malformed", "ok", "wrong_audience", "expired", "insufficient_scope"].map { "\(metric){result=\($0)}" })
        #expect(!metrics.counted.contains { $0.contains(good) })
    }

    @Test("RFC 9728 §5.1: no token → 401 with resource_metadata and the scope needed, and no error code")
    func noToken() async throws {
        let issuer = try await FakeIssuer()
        try await app(issuer).test(.router) { client in
            let response = try await client.execute(uri: "/mcp", method: .get)
            #expect(response.status == .unauthorized)
            #expect(
                response.headers[.wwwAuthenticate]
                    == #"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="read""#)
        }
    }

    @Test("RFC 6750 §3.1: an invalid token → 401 invalid_token; a valid one reaches the route with its subject")
    func invalidAndValid() async throws {
        let issuer = try await FakeIssuer()
        let token = try await issuer.token()
        try await app(issuer).test(.router) { client in
            let bad = try await client.execute(uri: "/mcp", method: .get, headers: [.authorization: "Bearer not.a.token"])
            #expect(bad.status == .unauthorized)
            #expect(bad.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
            #expect(bad.headers[.wwwAuthenticate]?.contains("resource_metadata=") == true)
            let good = try await client.execute(uri: "/mcp", method: .get, headers: [.authorization: "bearer \(token)"])
            #expect(good.status == .ok)
            #expect(String(buffer: good.body) == "hello user-1")
        }
    }

    @Test("Bearer tokens are read from the Authorization header only, never from the query string")
    func queryStringIgnored() async throws {
        let issuer = try await FakeIssuer()
        let token = try await issuer.token()
        try await app(issuer).test(.router) { client in
            let response = try await client.execute(uri: "/mcp?access_token=\(token)", method: .get)
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate]?.contains("error=") == false)
        }
    }

    @Test("RFC 6750 §3.1: a token without the needed scope → 403 insufficient_scope with the union to ask for (step-up)")
    func insufficientScope() async throws {
        let issuer = try await FakeIssuer()
        let token = try await issuer.token(scope: "read")
        try await app(issuer).test(.router) { client in
            let response = try await client.execute(uri: "/mcp?tool=write", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(response.status == .forbidden)
            let header = try #require(response.headers[.wwwAuthenticate])
            #expect(header.contains(#"error="insufficient_scope""#))
            #expect(header.contains(#"scope="read write""#))
            #expect(header.contains("resource_metadata="))
        }
    }

    @Test("The issuer unreachable while checking a token → 503, never a pass")
    func issuerUnavailable() async throws {
        let issuer = try await FakeIssuer()
        let token = try await issuer.token()
        issuer.setReachable(false)
        try await app(issuer).test(.router) { client in
            let response = try await client.execute(uri: "/mcp", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(response.status == .serviceUnavailable)
        }
    }

    @Test("RFC 9728 §3: metadata at the path-inserted well-known URL (and the plain one), with CORS for browser clients")
    func metadata() async throws {
        let issuer = try await FakeIssuer()
        try await app(issuer).test(.router) { client in
            for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                let document = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect(document?["resource"] as? String == FakeIssuer.resource)
                #expect(document?["authorization_servers"] as? [String] == [FakeIssuer.issuer])
                #expect(document?["scopes_supported"] as? [String] == ["read", "write"])
                #expect(document?["bearer_methods_supported"] as? [String] == ["header"])
            }
            let preflight = try await client.execute(
                uri: "/.well-known/oauth-protected-resource/mcp", method: .options,
                headers: [.origin: "https://claude.ai"])
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("GET") == true)
        }
    }

    @Test("RFC 9728 §3.1: the metadata URL inserts the well-known segment before the resource's path")
    func metadataURL() {
        #expect(
            ProtectedResource(resource: "https://mcp.example.com/mcp", issuer: "x", scopesSupported: []).metadataURL
                == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        #expect(
            ProtectedResource(resource: "https://mcp.example.com/", issuer: "x", scopesSupported: []).metadataURL
                == "https://mcp.example.com/.well-known/oauth-protected-resource")
        #expect(
            ProtectedResource(resource: "http://127.0.0.1:8000/a/b", issuer: "x", scopesSupported: []).metadataURL
                == "http://127.0.0.1:8000/.well-known/oauth-protected-resource/a/b")
    }
}

@Suite("PixyResource: the HTTP issuer client")
struct HTTPIssuerClientTests {
    @Test(
        "One deadline over the whole request, body included: an issuer trickling its body fails the request at the deadline",
        .timeLimit(.minutes(1)))
    func trickledBodyHitsDeadline() async throws {
        let router = Router()
        // 200 bytes, 100 ms apart: over 20 s in all, each read well inside AsyncHTTPClient's read timeout.
        router.get("/slow") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    for _ in 0..<200 {
                        try await writer.write(ByteBuffer(string: " "))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.write(ByteBuffer(string: "{}"))
                    try await writer.finish(nil)
                })
        }
        try await Application(router: router).test(.live) { client in
            let port = try #require(client.port)
            let issuer = HTTPIssuerClient(deadline: .seconds(1))
            await #expect(throws: (any Error).self) { _ = try await issuer.get("http://127.0.0.1:\(port)/slow") }
            try await issuer.shutdown()
        }
    }
}

/// The code of the rejection `body` throws, or `nil` when it throws none (or something else).
func rejection(_ body: () async throws -> Void) async -> TokenRejection.Code? {
    do {
        try await body()
        return nil
    } catch let rejection as TokenRejection {
        return rejection.code
    } catch {
        return nil
    }
}
