public import Hummingbird
public import CoreMetrics
import HTTPTypes
import Logging
import Foundation

/// A request context that can carry the access token a ``BearerAuthenticationMiddleware``
/// accepted, for the route to read (`context.accessToken?.subject`).
public protocol AccessTokenRequestContext: RequestContext {
    /// The verified token; `nil` before the middleware ran.
    var accessToken: VerifiedAccessToken? { get set }
}

/// A ready-made context for resource servers.
public struct ResourceRequestContext: AccessTokenRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var accessToken: VerifiedAccessToken?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Requires a valid bearer token with the scopes a request needs (RFC 6750, RFC 9728 §5.1).
///
/// - The token is read from the `Authorization` header only. A token in the query string
///   (`access_token=`) or a form body is never looked at: those end up in logs and referrers
///   (RFC 6750 §2.3 is a MAY that OAuth 2.1 and MCP drop).
/// - No or an invalid token: `401` with
///   `WWW-Authenticate: Bearer resource_metadata="<PRM URL>", scope="…"` and, when a token was
///   sent, `error="invalid_token"` (RFC 6750 §3, §3.1), so an MCP client can discover the
///   authorization server.
/// - A valid token without the needed scopes: `403` with `error="insufficient_scope"` and the
///   scopes needed, so the client can re-authorize with the union (step-up).
/// - The issuer unreachable while checking a token: `503`, so nothing is let through.
///
/// Every check is counted in `pixy_resource_bearer_checks_total{result}` (``BearerCheckResult``):
/// the result is one of a fixed set, never anything from the token.
public struct BearerAuthenticationMiddleware<Context: AccessTokenRequestContext>: RouterMiddleware {
    private let resource: ProtectedResource
    private let verifier: AccessTokenVerifier
    private let requiredScopes: @Sendable (Request, Context) async throws -> (Request, [String])
    private let metrics: any MetricsFactory

    /// Requires the same `scopes` for every request. Checks are counted through `metrics`
    /// (by default the factory the process bootstrapped with `MetricsSystem.bootstrap`).
    public init(
        resource: ProtectedResource, verifier: AccessTokenVerifier, requiredScopes scopes: [String] = [],
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.init(resource: resource, verifier: verifier, metrics: metrics) { request, _ in (request, scopes) }
    }

    /// Requires the scopes `requiredScopes` computes per request, e.g. per MCP tool from the
    /// JSON-RPC body. It may consume the body, returning the request with the body put back.
    public init(
        resource: ProtectedResource, verifier: AccessTokenVerifier, metrics: any MetricsFactory = MetricsSystem.factory,
        requiredScopes: @escaping @Sendable (Request, Context) async throws -> (Request, [String])
    ) {
        self.resource = resource
        self.verifier = verifier
        self.requiredScopes = requiredScopes
        self.metrics = metrics
    }

    /// The metric every bearer check is counted in.
    public static var checksMetric: String { "pixy_resource_bearer_checks_total" }

    private func count(_ result: BearerCheckResult) {
        Counter(label: Self.checksMetric, dimensions: [("result", result.rawValue)], factory: metrics).increment()
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let (request, needed) = try await requiredScopes(request, context)
        guard let header = request.headers[.authorization] else {
            count(.missing)
            // MCP: the scope in the first challenge is what the client asks for first.
            return challenge(.unauthorized, error: nil, scopes: needed)
        }
        guard let token = Self.bearerToken(in: header) else {
            count(.malformed)
            return challenge(.unauthorized, error: ("invalid_request", "Use the Authorization: Bearer scheme."), scopes: needed)
        }
        let verified: VerifiedAccessToken
        do {
            verified = try await verifier.verify(token)
        } catch {
            count(BearerCheckResult(error.code))
            context.logger.info("bearer token refused", metadata: ["reason": "\(error.description)"])
            if error.isIssuerUnavailable {
                return Response(status: .serviceUnavailable, headers: [.retryAfter: "5", .cacheControl: "no-store"])
            }
            return challenge(.unauthorized, error: ("invalid_token", "The access token is invalid or expired."), scopes: needed)
        }
        let missing = needed.filter { !verified.scopes.contains($0) }
        guard missing.isEmpty else {
            count(.insufficientScope)
            // RFC 6750 §3.1: the scope needed for this request; MCP clients request the union
            // of what they hold and this.
            return challenge(
                .forbidden, error: ("insufficient_scope", "This request needs more scope."),
                scopes: verified.scopes.sorted() + missing)
        }
        count(.ok)
        var context = context
        context.accessToken = verified
        return try await next(request, context)
    }

    /// RFC 6750 §2.1: `Bearer` (any case) and one b64token.
    static func bearerToken(in header: String) -> String? {
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = String(parts[1])
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")
        guard !token.isEmpty, token.allSatisfy(allowed.contains) else { return nil }
        return token
    }

    private func challenge(_ status: HTTPResponse.Status, error: (code: String, description: String)?, scopes: [String]) -> Response {
        var parameters = ["resource_metadata=\"\(resource.metadataURL)\""]
        if let error {
            parameters.append("error=\"\(error.code)\"")
            parameters.append("error_description=\"\(error.description)\"")
        }
        if !scopes.isEmpty { parameters.append("scope=\"\(scopes.joined(separator: " "))\"") }
        return Response(
            status: status,
            headers: [
                .wwwAuthenticate: "Bearer " + parameters.joined(separator: ", "),
                .cacheControl: "no-store",
            ])
    }
}

extension Router where Context: RequestContext {
    /// Serves the RFC 9728 Protected Resource Metadata of `resource` at its well-known path
    /// (path-inserted when the resource has a path; the plain form too, for clients that try it
    /// first), with CORS for browser-based clients.
    public func addProtectedResourceMetadata(_ resource: ProtectedResource) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(resource.metadataDocument)) ?? Data("{}".utf8)
        let headers: HTTPFields = [
            .contentType: "application/json",
            .accessControlAllowOrigin: "*",
            .cacheControl: "max-age=300",
        ]
        var paths = [resource.metadataPath]
        if resource.metadataPath != "/.well-known/oauth-protected-resource" { paths.append("/.well-known/oauth-protected-resource") }
        for path in paths {
            get(RouterPath(path)) { _, _ in
                Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
            on(RouterPath(path), method: .options) { _, _ in
                Response(
                    status: .noContent,
                    headers: [
                        .accessControlAllowOrigin: "*",
                        .accessControlAllowMethods: "GET, OPTIONS",
                        .accessControlAllowHeaders: "Authorization, Content-Type, MCP-Protocol-Version",
                        .accessControlMaxAge: "86400",
                    ])
            }
        }
    }
}

/// The result label of `pixy_resource_bearer_checks_total`.
public enum BearerCheckResult: String, Sendable, CaseIterable {
    /// The token verified and carried the scopes needed.
    case ok
    /// No `Authorization` header (the client's first, discovering request).
    case missing
    /// Not a Bearer header, or not a token of the expected shape.
    case malformed
    /// The signature did not verify, or no key of the issuer's has its `kid`.
    case invalidSignature = "invalid_signature"
    /// Another issuer's token.
    case wrongIssuer = "wrong_issuer"
    /// A token for another resource (RFC 8707).
    case wrongAudience = "wrong_audience"
    /// Expired, or not valid yet.
    case expired
    /// Introspection says it is no longer active: revoked, or its grant or user is gone.
    case revoked
    /// Valid, but without the scopes the request needs (403, step-up).
    case insufficientScope = "insufficient_scope"
    /// The issuer could not be reached (503).
    case issuerUnavailable = "issuer_unavailable"
    /// The resource's configuration does not fit the issuer.
    case misconfigured

    init(_ code: TokenRejection.Code) {
        switch code {
        case .malformed: self = .malformed
        case .unknownKey, .invalidSignature: self = .invalidSignature
        case .wrongIssuer: self = .wrongIssuer
        case .wrongAudience: self = .wrongAudience
        case .expired, .notYetValid: self = .expired
        case .inactive: self = .revoked
        case .issuerUnavailable: self = .issuerUnavailable
        default: self = .misconfigured
        }
    }
}
