public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import PixyCore
import PixyJWT
public import ServiceLifecycle
import Synchronization

/// ``UpstreamConnecting`` over AsyncHTTPClient (docs/federation.md): one deadline over each whole
/// request including its body, no redirects followed, bodies capped, discovery documents cached
/// for an hour (one fetch per provider in flight; a failed one is not retried for 15 seconds)
/// and JWK Sets for ten minutes (fetched again at once, at most every 30 seconds, when
/// an ID token names a key the cached set lacks: the provider rotated its keys). Requests run on
/// AsyncHTTPClient's event loops, never on the request executor. A ServiceLifecycle service: it
/// shuts its HTTP client down on graceful shutdown.
public final class HTTPUpstreamConnector: UpstreamConnecting, Service {
    private let client: HTTPClient
    private let clock: any WallClock
    private let discovered = Mutex<[String: (endpoints: UpstreamEndpoints, fetchedAt: Date)]>([:])
    private let keySets = Mutex<[String: (jwks: Data, fetchedAt: Date)]>([:])
    private let discoveries = Mutex<[String: Task<UpstreamEndpoints, any Error>]>([:])
    private let failedDiscoveries = Mutex<[String: (failure: UpstreamFailure, at: Date)]>([:])
    /// The time one request may take, head and body.
    public let deadline: Duration
    /// Largest response body read.
    public static let maximumBytes = 256 * 1024

    /// Creates a connector; `trustedCAFile` adds CA certificates (PEM) to the system's, for a
    /// provider behind a private CA.
    public init(trustedCAFile: String? = nil, deadline: Duration = .seconds(10), clock: any WallClock = SystemWallClock()) {
        self.deadline = deadline
        self.clock = clock
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustedCAFile { tls.additionalTrustRoots = [.file(trustedCAFile)] }
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
    }

    public func endpoints(of provider: UpstreamProvider) async throws(UpstreamFailure) -> UpstreamEndpoints {
        switch provider.kind {
        case .oauth2(let endpoints):
            return .configured(endpoints)
        case .openIDConnect(let issuer):
            let now = clock.now()
            if let cached = discovered.withLock({ $0[provider.id] }), now.timeIntervalSince(cached.fetchedAt) < 3600 {
                return cached.endpoints
            }
            // A provider that just failed is not asked again for a while: every sign-in meanwhile
            // fails at once instead of each holding an outgoing request until the deadline.
            if let failed = failedDiscoveries.withLock({ $0[provider.id] }), now.timeIntervalSince(failed.at) < 15 {
                throw failed.failure
            }
            // One discovery per provider in flight; everyone else waits for its answer.
            let task = discoveries.withLock { tasks in
                if let running = tasks[provider.id] { return running }
                let started = Task { () async throws -> UpstreamEndpoints in
                    defer { _ = self.discoveries.withLock { $0.removeValue(forKey: provider.id) } }
                    do throws(UpstreamFailure) {
                        let endpoints = try await self.discover(provider, issuer: issuer)
                        self.discovered.withLock { $0[provider.id] = (endpoints, self.clock.now()) }
                        return endpoints
                    } catch {
                        self.failedDiscoveries.withLock { $0[provider.id] = (error, self.clock.now()) }
                        throw error
                    }
                }
                tasks[provider.id] = started
                return started
            }
            do {
                return try await task.value
            } catch let failure as UpstreamFailure {
                throw failure
            } catch {
                throw UpstreamFailure(.unreachable, "discovery failed: \(error)")
            }
        }
    }

    /// OpenID Connect Discovery §4: the issuer, then `/.well-known/openid-configuration`.
    private func discover(_ provider: UpstreamProvider, issuer: String) async throws(UpstreamFailure) -> UpstreamEndpoints {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        let (status, body) = try await send(get(base + "/.well-known/openid-configuration"))
        guard status == 200 else { throw failure(status: status, while: "discovery") }
        return try UpstreamEndpoints.discovered(try object(body, what: "discovery document"), for: provider)
    }

    public func exchange(
        code: String, verifier: String, redirectURI: String, provider: UpstreamProvider, endpoints: UpstreamEndpoints
    ) async throws(UpstreamFailure) -> UpstreamTokens {
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", verifier)]
        var request = HTTPClientRequest(url: endpoints.tokenEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "pixy")
        switch provider.clientAuthentication {
        case .clientSecretBasic:
            // RFC 6749 §2.3.1: form-urlencode id and secret, then base64 them.
            let credentials =
                "\(FormParameters.percentEncode(provider.clientID)):\(FormParameters.percentEncode(provider.clientSecret ?? ""))"
            request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        case .clientSecretPost:
            form += [("client_id", provider.clientID), ("client_secret", provider.clientSecret ?? "")]
        case .none:
            form.append(("client_id", provider.clientID))
        }
        request.body = .bytes(ByteBuffer(string: FormParameters.encode(form)))
        let (status, body) = try await send(request)
        guard status == 200 else { throw failure(status: status, while: "the code exchange") }
        let response = try object(body, what: "token response")
        // Some providers (GitHub) answer a refused exchange with 200 and an error object.
        if response["error"] != nil { throw UpstreamFailure(.rejected, "the provider refused the code exchange") }
        guard let accessToken = response["access_token"]?.string, !accessToken.isEmpty else {
            throw UpstreamFailure(.invalidResponse, "the token response has no access_token")
        }
        return UpstreamTokens(accessToken: accessToken, idToken: response["id_token"]?.string)
    }

    public func verifiedClaims(ofIDToken idToken: String, provider: UpstreamProvider, endpoints: UpstreamEndpoints)
        async throws(UpstreamFailure) -> Claims
    {
        guard let jwksURI = endpoints.jwksURI else { throw UpstreamFailure(.invalidResponse, "the provider has no jwks_uri") }
        let now = clock.now()
        let cached = keySets.withLock { $0[provider.id] }
        let jwks: Data
        if let cached, now.timeIntervalSince(cached.fetchedAt) < 600 {
            jwks = cached.jwks
        } else {
            jwks = try await fetchKeySet(jwksURI, provider: provider)
        }
        do {
            return try await UpstreamIDTokenSignature.verifiedClaims(of: idToken, jwks: jwks, allowed: provider.allowedAlgorithms)
        } catch let failure where UpstreamIDTokenSignature.keyIsUnknown(failure) {
            // A key the set lacks: fetch it again, unless it was fetched moments ago.
            if let fetchedAt = keySets.withLock({ $0[provider.id]?.fetchedAt }), now.timeIntervalSince(fetchedAt) < 30 { throw failure }
            let fresh = try await fetchKeySet(jwksURI, provider: provider)
            return try await UpstreamIDTokenSignature.verifiedClaims(of: idToken, jwks: fresh, allowed: provider.allowedAlgorithms)
        }
    }

    public func userinfo(accessToken: String, provider: UpstreamProvider, endpoints: UpstreamEndpoints) async throws(UpstreamFailure)
        -> Claims
    {
        guard let url = endpoints.userinfoEndpoint else { throw UpstreamFailure(.invalidResponse, "the provider has no userinfo endpoint") }
        var request = get(url)
        request.headers.add(name: "Authorization", value: "Bearer " + accessToken)
        let (status, body) = try await send(request)
        guard status == 200 else { throw failure(status: status, while: "the userinfo request") }
        return try object(body, what: "userinfo response")
    }

    private func fetchKeySet(_ url: String, provider: UpstreamProvider) async throws(UpstreamFailure) -> Data {
        let (status, body) = try await send(get(url))
        guard status == 200 else { throw failure(status: status, while: "the JWK Set fetch") }
        keySets.withLock { $0[provider.id] = (body, clock.now()) }
        return body
    }

    private func get(_ url: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "pixy")
        return request
    }

    /// A status that is not 200: the provider refused (4xx) or is failing (5xx).
    private func failure(status: Int, while step: String) -> UpstreamFailure {
        UpstreamFailure(status >= 500 ? .unreachable : .rejected, "the provider answered \(status) to \(step)")
    }

    private func object(_ body: Data, what: String) throws(UpstreamFailure) -> Claims {
        guard let object = try? JSONDecoder().decode(Claims.self, from: body) else {
            throw UpstreamFailure(.invalidResponse, "the \(what) is not a JSON object")
        }
        return object
    }

    /// Sends `request` and reads its body, all within ``deadline``. Any transport failure or
    /// timeout is ``UpstreamFailure/Code/unreachable``.
    private func send(_ request: HTTPClientRequest) async throws(UpstreamFailure) -> (status: Int, body: Data) {
        let client = self.client
        let deadline = self.deadline
        do {
            return try await withThrowingTaskGroup(of: (Int, Data)?.self) { group in
                group.addTask {
                    let response = try await client.execute(
                        request, timeout: .nanoseconds(Int64(deadline.components.seconds) * 1_000_000_000))
                    let body = try await response.body.collect(upTo: Self.maximumBytes)
                    return (Int(response.status.code), Data(body.readableBytesView))
                }
                group.addTask {
                    try await Task.sleep(for: deadline)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw UpstreamFailure(.unreachable, "the provider did not answer within \(deadline)")
                }
                return result
            }
        } catch let failure as UpstreamFailure {
            throw failure
        } catch {
            throw UpstreamFailure(.unreachable, "the provider could not be reached: \(error)")
        }
    }

    /// Waits for graceful shutdown, then shuts the HTTP client down.
    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
