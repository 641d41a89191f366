public import Foundation
import JWTKit
import PixyModel

/// An access token this resource accepted.
public struct VerifiedAccessToken: Sendable, Equatable {
    /// `sub`: the user.
    public var subject: String
    /// `client_id`: the application acting for the user.
    public var clientID: String
    /// The granted scopes.
    public var scopes: Set<String>
    /// `exp`.
    public var expiresAt: Date
    /// `jti`, when the token has one.
    public var tokenID: String?

    /// Creates a verified token.
    public init(subject: String, clientID: String, scopes: Set<String>, expiresAt: Date, tokenID: String?) {
        self.subject = subject
        self.clientID = clientID
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.tokenID = tokenID
    }
}

/// Why a token was refused. The client sees only `invalid_token` (RFC 6750 §3.1); the ``code``
/// is for decisions and counts, the ``reason`` for logs. Two rejections are equal when their
/// codes are.
public struct TokenRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal this is; stable.
    public let code: Code
    /// What was wrong, in words, for logs; never sent.
    public let reason: String

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The ``reason``.
    public var description: String { reason }

    /// Whether the issuer could not be reached (the resource then answers 503, not 401).
    public var isIssuerUnavailable: Bool { code == .issuerUnavailable }

    /// Equal when the codes are.
    public static func == (lhs: TokenRejection, rhs: TokenRejection) -> Bool { lhs.code == rhs.code }

    /// Hashes the code only, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// A kind of refusal.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: String, Sendable {
            case malformed, unknownKey, invalidSignature, wrongIssuer, wrongAudience, expired, notYetValid, inactive
            case issuerUnavailable, misconfigured
        }
        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// The code's name, e.g. `wrongAudience`.
        public var description: String { backing.rawValue }

        /// Not a JWS of the expected shape: not three parts, `typ` not `at+jwt` (RFC 9068 §4),
        /// `alg` not ES256, no `kid`.
        public static let malformed = Code(.malformed)
        /// The `kid` names no key of the issuer, even after refetching its JWKS.
        public static let unknownKey = Code(.unknownKey)
        /// The signature or the claims' shape did not verify.
        public static let invalidSignature = Code(.invalidSignature)
        /// `iss` is not the configured issuer.
        public static let wrongIssuer = Code(.wrongIssuer)
        /// `aud` does not name this resource (RFC 8707).
        public static let wrongAudience = Code(.wrongAudience)
        /// `exp` has passed, beyond the allowed clock skew.
        public static let expired = Code(.expired)
        /// `nbf` is still ahead, beyond the allowed clock skew.
        public static let notYetValid = Code(.notYetValid)
        /// Introspection says the token is not active (RFC 7662 §2.2).
        public static let inactive = Code(.inactive)
        /// The issuer's metadata, keys or introspection could not be reached.
        public static let issuerUnavailable = Code(.issuerUnavailable)
        /// The resource's own configuration does not fit the issuer (not a URL, another issuer,
        /// no introspection endpoint).
        public static let misconfigured = Code(.misconfigured)
    }
}

/// Fetches what the verifier needs from the issuer: its RFC 8414 metadata and JWKS, and
/// introspection answers. A protocol so tests can count fetches.
public protocol IssuerClient: Sendable {
    /// GET `url`, returning the body of a 200 response.
    func get(_ url: String) async throws -> Data
    /// POST an `application/x-www-form-urlencoded` body with Basic credentials; the 200 body.
    func post(_ url: String, form: [(String, String)], basicCredentials: (String, String)) async throws -> Data
}

/// Checks bearer tokens for one ``ProtectedResource``.
///
/// JWT mode (RFC 9068): the header must say `typ: at+jwt`, `alg: ES256` and name a `kid` that is
/// in the issuer's JWKS; the signature must verify with *that* key (never a default or another
/// key); `iss` must be the issuer, `aud` must contain the resource, and `exp`/`nbf` must hold
/// within the clock skew. The JWKS is found through the issuer's metadata, cached, and fetched
/// again on an unknown `kid` at most once per ``ProtectedResource/keyRefetchInterval``.
///
/// Fetches from the issuer (metadata, JWKS) are single-flight: concurrent verifications that need
/// one wait for the same fetch. After a failed fetch no new one starts for a back-off that
/// starts at ``initialRetryDelay`` and doubles per consecutive failure up to
/// ``ProtectedResource/keyRefetchInterval``, read on the injected clock (docs/threat-model.md,
/// "forged `kid`s or an issuer outage").
///
/// Introspection mode (RFC 7662): every token is sent to the issuer's introspection endpoint;
/// only `active: true` with this resource in `aud` passes.
public actor AccessTokenVerifier {
    private let resource: ProtectedResource
    private let client: any IssuerClient
    private let now: @Sendable () -> Date
    private var endpoints: Endpoints?
    private var keys: JWTKeyCollection?
    private var keyIDs: Set<String> = []
    private var lastKeyFetch: Date?
    private var keyFetch: Task<Result<JWTKeyCollection, TokenRejection>, Never>?
    private var endpointsFetch: Task<Result<Endpoints, TokenRejection>, Never>?
    private var retryAt: Date?
    private var consecutiveFailures = 0
    /// Verifications waiting for an issuer fetch right now (tests drive single flight by it).
    var issuerFetchWaiters = 0
    /// The first back-off after a failed issuer fetch; it doubles per consecutive failure.
    public static let initialRetryDelay: Duration = .seconds(1)

    private typealias Endpoints = (jwksURI: String, introspectionEndpoint: String?)

    /// A verifier for `resource`, talking to the issuer through `client`. `now` is the clock
    /// every time check reads (expiry, the refetch interval); tests inject a manual one.
    public init(resource: ProtectedResource, client: any IssuerClient, now: @escaping @Sendable () -> Date = { Date() }) {
        self.resource = resource
        self.client = client
        self.now = now
    }

    /// The verified token, or a ``TokenRejection``.
    public func verify(_ token: String) async throws(TokenRejection) -> VerifiedAccessToken {
        switch resource.verification {
        case .jwt: return try await verifyJWT(token)
        case .introspection(let clientID, let secret): return try await introspect(token, clientID: clientID, secret: secret)
        }
    }

    // MARK: JWT

    private struct Payload: JWTPayload {
        var iss: IssuerClaim
        var sub: SubjectClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var jti: IDClaim?
        var clientID: String
        var scope: String?

        enum CodingKeys: String, CodingKey {
            case iss, sub, aud, exp, nbf, jti, scope
            case clientID = "client_id"
        }

        /// Time claims are checked by the verifier against its injected clock, with skew.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private func verifyJWT(_ token: String) async throws(TokenRejection) -> VerifiedAccessToken {
        guard let header = JOSEHeader(compactToken: token) else { throw TokenRejection(.malformed, "not a JWT") }
        // RFC 9068 §4: the typ header distinguishes access tokens from ID tokens and others.
        guard header.type?.lowercased() == "at+jwt" || header.type?.lowercased() == "application/at+jwt" else {
            throw TokenRejection(.malformed, "typ is not at+jwt")
        }
        guard header.algorithm == "ES256" else { throw TokenRejection(.malformed, "alg is not ES256") }
        guard let kid = header.keyID else { throw TokenRejection(.malformed, "no kid") }
        var keys = try await keySet()
        if !keyIDs.contains(kid) {
            keys = try await keySet(refetchingFor: kid)
            guard keyIDs.contains(kid) else { throw TokenRejection(.unknownKey, "unknown kid") }
        }
        let payload: Payload
        do {
            payload = try await keys.verify(token, as: Payload.self)
        } catch {
            throw TokenRejection(.invalidSignature, "signature or claims invalid: \(error)")
        }
        try checkClaims(
            issuer: payload.iss.value, audiences: payload.aud.value, expiresAt: payload.exp.value, notBefore: payload.nbf?.value)
        return VerifiedAccessToken(
            subject: payload.sub.value, clientID: payload.clientID,
            scopes: Set((payload.scope ?? "").split(separator: " ").map(String.init)),
            expiresAt: payload.exp.value, tokenID: payload.jti?.value)
    }

    private func checkClaims(issuer: String, audiences: [String], expiresAt: Date, notBefore: Date?) throws(TokenRejection) {
        guard issuer == resource.issuer else { throw TokenRejection(.wrongIssuer, "iss is not the configured issuer") }
        // RFC 8707 / MCP: a token minted for another resource must not be accepted here.
        guard audiences.contains(resource.resource) else { throw TokenRejection(.wrongAudience, "aud does not name this resource") }
        let skew = Double(resource.clockSkew.components.seconds)
        let current = now()
        guard expiresAt.addingTimeInterval(skew) > current else { throw TokenRejection(.expired, "expired") }
        if let notBefore, notBefore.addingTimeInterval(-skew) > current { throw TokenRejection(.notYetValid, "not yet valid") }
    }

    private func keySet(refetchingFor kid: String? = nil) async throws(TokenRejection) -> JWTKeyCollection {
        if let keys, kid == nil { return keys }
        if let keys, let lastKeyFetch, now().timeIntervalSince(lastKeyFetch) < Double(resource.keyRefetchInterval.components.seconds) {
            return keys  // refetched recently: an unknown kid stays unknown until the interval passes
        }
        let task: Task<Result<JWTKeyCollection, TokenRejection>, Never>
        if let running = keyFetch {
            task = running  // single flight: wait for the fetch already under way
        } else {
            if let retryAt, now() < retryAt {
                if let keys { return keys }
                throw TokenRejection(.issuerUnavailable, "the issuer's keys could not be fetched recently; backing off")
            }
            task = Task { await self.fetchKeys() }
            keyFetch = task
        }
        issuerFetchWaiters += 1
        let result = await task.value
        issuerFetchWaiters -= 1
        return try result.get()
    }

    /// The one JWKS fetch under way; updates the keys, or the back-off on failure.
    private func fetchKeys() async -> Result<JWTKeyCollection, TokenRejection> {
        defer { keyFetch = nil }
        let jwksURI: String
        do {
            jwksURI = try await issuerEndpoints().jwksURI
        } catch {
            return keysAfterFailure(error)  // the metadata fetch already counted the failure
        }
        do {
            let data = try await client.get(jwksURI)
            let jwks = try JSONDecoder().decode(JWKS.self, from: data)
            let collection = JWTKeyCollection()
            try await collection.add(jwks: jwks)
            // No default key: jwt-kit would verify a token with an unknown kid using it.
            await collection.clearDefault()
            keys = collection
            keyIDs = Set(jwks.keys.compactMap { $0.keyIdentifier?.string })
            lastKeyFetch = now()
            fetchSucceeded()
            return .success(collection)
        } catch {
            fetchFailed()
            return keysAfterFailure(TokenRejection(.issuerUnavailable, "cannot fetch the issuer's keys: \(error)"))
        }
    }

    /// After a failed fetch: the keys held so far (a failed refetch also waits out the
    /// interval), or the failure when there are none.
    private func keysAfterFailure(_ rejection: TokenRejection) -> Result<JWTKeyCollection, TokenRejection> {
        if let keys, rejection.isIssuerUnavailable {
            lastKeyFetch = now()
            return .success(keys)
        }
        return .failure(rejection)
    }

    private func fetchSucceeded() {
        consecutiveFailures = 0
        retryAt = nil
    }

    /// Starts (or lengthens) the back-off: 1 s, 2 s, 4 s… up to the key refetch interval.
    private func fetchFailed() {
        let cap = resource.keyRefetchInterval.inSeconds
        let delay = min(Self.initialRetryDelay.inSeconds * Double(1 << min(consecutiveFailures, 20)), cap)
        consecutiveFailures += 1
        retryAt = now().addingTimeInterval(delay)
    }

    private struct IssuerMetadata: Decodable {
        var issuer: String
        var jwksURI: String
        var introspectionEndpoint: String?
        enum CodingKeys: String, CodingKey {
            case issuer
            case jwksURI = "jwks_uri"
            case introspectionEndpoint = "introspection_endpoint"
        }
    }

    /// The issuer's endpoints from its metadata, fetched once (single flight, with the back-off
    /// after a failure).
    private func issuerEndpoints() async throws(TokenRejection) -> Endpoints {
        if let endpoints { return endpoints }
        let task: Task<Result<Endpoints, TokenRejection>, Never>
        if let running = endpointsFetch {
            task = running
        } else {
            if let retryAt, now() < retryAt {
                throw TokenRejection(.issuerUnavailable, "the issuer's metadata could not be fetched recently; backing off")
            }
            task = Task { await self.fetchEndpoints() }
            endpointsFetch = task
        }
        issuerFetchWaiters += 1
        let result = await task.value
        issuerFetchWaiters -= 1
        return try result.get()
    }

    /// RFC 8414 §3: `/.well-known/oauth-authorization-server` inserted before the issuer's path;
    /// the document's `issuer` must equal the configured one (§3.3), or nothing is trusted.
    private func fetchEndpoints() async -> Result<Endpoints, TokenRejection> {
        defer { endpointsFetch = nil }
        guard let components = URLComponents(string: resource.issuer), let scheme = components.scheme, let host = components.host else {
            return .failure(TokenRejection(.misconfigured, "the configured issuer is not a URL"))
        }
        let port = components.port.map { ":\($0)" } ?? ""
        let path = components.path == "/" ? "" : components.path
        let url = "\(scheme)://\(host)\(port)/.well-known/oauth-authorization-server\(path)"
        let metadata: IssuerMetadata
        do {
            metadata = try JSONDecoder().decode(IssuerMetadata.self, from: try await client.get(url))
        } catch {
            fetchFailed()
            return .failure(TokenRejection(.issuerUnavailable, "cannot fetch the issuer's metadata: \(error)"))
        }
        guard metadata.issuer == resource.issuer else {
            fetchFailed()
            return .failure(TokenRejection(.misconfigured, "issuer metadata names another issuer"))
        }
        let found = (metadata.jwksURI, metadata.introspectionEndpoint)
        endpoints = found
        fetchSucceeded()
        return .success(found)
    }

    // MARK: Introspection

    private struct IntrospectionResponse: Decodable {
        var active: Bool
        var iss: String?
        var sub: String?
        var aud: Audience?
        var exp: Double?
        var nbf: Double?
        var jti: String?
        var clientID: String?
        var scope: String?
        enum CodingKeys: String, CodingKey {
            case active, iss, sub, aud, exp, nbf, jti, scope
            case clientID = "client_id"
        }

        /// `aud` is a string or an array of strings.
        struct Audience: Decodable {
            var values: [String]
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let single = try? container.decode(String.self) {
                    values = [single]
                } else {
                    values = try container.decode([String].self)
                }
            }
        }
    }

    private func introspect(_ token: String, clientID: String, secret: String) async throws(TokenRejection) -> VerifiedAccessToken {
        let answer: IntrospectionResponse
        do {
            guard let endpoint = try await issuerEndpoints().introspectionEndpoint else {
                throw TokenRejection(.misconfigured, "the issuer has no introspection endpoint")
            }
            let data = try await client.post(
                endpoint, form: [("token", token), ("token_type_hint", "access_token")],
                basicCredentials: (clientID, secret))
            answer = try JSONDecoder().decode(IntrospectionResponse.self, from: data)
        } catch let rejection as TokenRejection {
            throw rejection
        } catch {
            throw TokenRejection(.issuerUnavailable, "introspection failed: \(error)")
        }
        guard answer.active, let subject = answer.sub, let exp = answer.exp, let clientID = answer.clientID else {
            throw TokenRejection(.inactive, "inactive")
        }
        try checkClaims(
            issuer: answer.iss ?? resource.issuer, audiences: answer.aud?.values ?? [], expiresAt: Date(timeIntervalSince1970: exp),
            notBefore: answer.nbf.map(Date.init(timeIntervalSince1970:)))
        return VerifiedAccessToken(
            subject: subject, clientID: clientID, scopes: Set((answer.scope ?? "").split(separator: " ").map(String.init)),
            expiresAt: Date(timeIntervalSince1970: exp), tokenID: answer.jti)
    }
}

extension Duration {
    /// The duration in whole and fractional seconds, for arithmetic with `Date`.
    var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
