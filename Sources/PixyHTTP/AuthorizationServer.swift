public import PixyCore
import PixyModel
import Foundation
public import Hummingbird
import Logging
import NIOCore

/// Paths below the issuer, and what each kind of path gets from the header middleware.
struct EndpointPaths: Sendable {
    /// The issuer's path ("" for an issuer without one), with no trailing slash.
    let base: String

    init(issuer: String) {
        let withoutScheme = issuer.split(separator: "://", maxSplits: 1).last.map(String.init) ?? issuer
        if let slash = withoutScheme.firstIndex(of: "/") {
            var path = String(withoutScheme[slash...])
            while path.hasSuffix("/") { path.removeLast() }
            base = path
        } else {
            base = ""
        }
    }

    var authorize: String { base + "/authorize" }
    var login: String { base + "/login" }
    var consent: String { base + "/consent" }
    var token: String { base + "/token" }
    var register: String { base + "/register" }
    var revoke: String { base + "/revoke" }
    var introspect: String { base + "/introspect" }
    var jwks: String { base + "/jwks.json" }
    var health: String { base + "/health" }
    var ready: String { base + "/ready" }
    var logout: String { base + "/logout" }
    /// The connected-apps page, its sign-in form and its revoke button.
    var accountApps: String { base + "/account/apps" }
    var accountLogin: String { base + "/account/login" }
    var accountRevoke: String { base + "/account/apps/revoke" }
    /// Where a provider's button on the login page posts.
    var upstreamStart: String { base + "/login/upstream" }
    /// The provider's callback (``UpstreamProvider/redirectURI(issuer:)``).
    func upstreamCallback(_ provider: String) -> String { base + "/upstream/\(provider)/callback" }
    /// The issuer's own URL: a page naming the server and its metadata.
    var home: String { base.isEmpty ? "/" : base }

    /// RFC 8414 §3.1: the well-known segment goes between host and path. OpenID Connect
    /// Discovery §4 appends it after the path instead; MCP clients try both, so both are served.
    var metadata: [String] {
        var paths = ["/.well-known/oauth-authorization-server" + base, "/.well-known/openid-configuration" + base]
        if !base.isEmpty {
            paths.append(base + "/.well-known/openid-configuration")
            paths.append(base + "/.well-known/oauth-authorization-server")
        }
        return paths
    }

    /// Pages a browser renders: framing denied, nothing cached, no referrer (docs/security.md §8).
    var interactive: Set<String> { [authorize, login, consent, logout, upstreamStart, accountApps, accountLogin, accountRevoke] }
    /// Endpoints browser-based MCP clients call cross-origin (docs/security.md §10). Never the pages.
    /// Introspection is for resource servers, server to server: no CORS.
    var crossOrigin: Set<String> { Set([token, register, revoke, jwks] + metadata) }
}

/// The session cookie. Over https it is `__Host-pixy_session` (RFC 6265bis §4.1.3.2: Secure,
/// `Path=/`, no `Domain`), so a sibling subdomain cannot plant or overwrite it. An issuer with a
/// path keeps its cookie to that path, so tenants on one host do not share a session; `__Host-`
/// forbids any path but `/`, so there it is `__Secure-pixy_session` (§4.1.3.1).
struct SessionCookie: Sendable {
    let name: String
    let path: String
    let isSecure: Bool

    init(basePath: String, isSecure: Bool) {
        self.isSecure = isSecure
        path = basePath.isEmpty ? "/" : basePath
        name = !isSecure ? "pixy_session" : basePath.isEmpty ? "__Host-pixy_session" : "__Secure-pixy_session"
    }

    /// Sets the cookie for `maxAge` seconds.
    func setCookie(_ value: String, maxAge: Int) -> String {
        var parts = ["\(name)=\(value)", "Path=\(path)", "Max-Age=\(maxAge)", "HttpOnly", "SameSite=Lax"]
        if isSecure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }

    /// Deletes the cookie.
    var expired: String { setCookie("", maxAge: 0) }
}

/// The HTTP face of an ``OAuthServer``: routes, header policy, cookies and pages. It decodes
/// requests into PixyCore's typed requests and renders the outcomes; every OAuth decision is
/// made by the ``OAuthServer`` (docs/architecture.md).
public struct AuthorizationServer: Sendable {
    let oauth: OAuthServer
    let paths: EndpointPaths
    let pages: PageRenderer
    let cookie: SessionCookie
    let metadataJSON: String
    /// The JWK Set served at `jwks_uri`, read on each request (it changes when keys rotate).
    let jwksJSON: @Sendable () -> String
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by default).
    let trustedProxies: [AddressRange]
    let branding: PageBranding
    /// Whether the stores answer, for `/ready`.
    let readiness: StoreReadiness

    /// Builds the routes' shared state once.
    ///
    /// - Parameters:
    ///   - jwksJSON: the JWK Set, read on each request.
    ///   - trustedProxies: reverse proxies whose `X-Forwarded-For` names the client.
    ///   - branding: the operator's name, logo and scope descriptions on the pages.
    public init(
        oauth: OAuthServer, jwksJSON: @escaping @Sendable () -> String, trustedProxies: [AddressRange] = [],
        branding: PageBranding = PageBranding()
    ) throws {
        self.oauth = oauth
        self.jwksJSON = jwksJSON
        self.trustedProxies = trustedProxies
        self.branding = branding
        let policy = oauth.policy
        paths = EndpointPaths(issuer: policy.issuer)
        pages = try PageRenderer(branding: branding)
        cookie = SessionCookie(basePath: paths.base, isSecure: policy.issuer.hasPrefix("https://"))
        metadataJSON = String(decoding: try Responses.jsonEncoder.encode(oauth.metadata), as: UTF8.self)
        readiness = StoreReadiness(stores: oauth.stores, clock: oauth.clock)
    }

    /// Adds middleware and routes to `router`.
    public func register(on router: Router<PixyRequestContext>) {
        router.add(middleware: RequestIDMiddleware())
        if !trustedProxies.isEmpty { router.add(middleware: TrustedProxyMiddleware(trusted: trustedProxies)) }
        router.add(middleware: RequestLogMiddleware(telemetry: oauth.telemetry))
        router.add(
            middleware: HeaderPolicyMiddleware(
                interactive: paths.interactive.union(oauth.policy.upstreamProviders.map { paths.upstreamCallback($0.id) }),
                crossOrigin: paths.crossOrigin,
                contentSecurityPolicy: branding.contentSecurityPolicy))

        router.get(RouterPath(paths.authorize)) { request, context in
            await self.page(context) { try await self.authorize(request, context: context) }
        }
        router.get(RouterPath(paths.login)) { request, context in
            await self.page(context) { try await self.showLogin(request, context: context) }
        }
        router.post(RouterPath(paths.login)) { request, context in
            await self.page(context) { try await self.submitLogin(request, context: context) }
        }
        router.get(RouterPath(paths.consent)) { request, context in
            await self.page(context) { try await self.showConsent(request, context: context) }
        }
        router.post(RouterPath(paths.consent)) { request, context in
            await self.page(context) { try await self.submitConsent(request, context: context) }
        }
        router.get(RouterPath(paths.logout)) { request, context in
            await self.page(context) { try await self.showLogout(request, context: context) }
        }
        router.post(RouterPath(paths.logout)) { request, context in
            await self.page(context) { try await self.submitLogout(request, context: context) }
        }
        router.get(RouterPath(paths.accountApps)) { request, context in
            await self.page(context) { try await self.showConnectedApps(request, context: context) }
        }
        router.post(RouterPath(paths.accountLogin)) { request, context in
            await self.page(context) { try await self.submitAccountSignIn(request, context: context) }
        }
        router.post(RouterPath(paths.accountRevoke)) { request, context in
            await self.page(context) { try await self.submitRevokeApp(request, context: context) }
        }
        router.post(RouterPath(paths.upstreamStart)) { request, context in
            try await self.startUpstreamSignIn(request, context: context)
        }
        router.get(RouterPath(paths.base + "/upstream/:provider/callback")) { request, context in
            try await self.finishUpstreamSignIn(request, context: context)
        }
        router.post(RouterPath(paths.token)) { request, context in try await self.token(request, context: context) }
        router.post(RouterPath(paths.revoke)) { request, context in try await self.revoke(request, context: context) }
        router.post(RouterPath(paths.introspect)) { request, context in try await self.introspect(request, context: context) }
        for path in [paths.token, paths.revoke, paths.introspect] {
            router.get(RouterPath(path)) { _, _ in self.methodNotAllowed(allow: "POST") }
        }
        router.post(RouterPath(paths.register)) { request, context in try await self.registerClient(request, context: context) }
        router.get(RouterPath(paths.register)) { _, _ in self.methodNotAllowed(allow: "POST") }
        router.get(RouterPath(paths.jwks)) { _, _ in Responses.publicJSON(self.jwksJSON()) }
        for path in paths.metadata {
            router.get(RouterPath(path)) { _, _ in Responses.publicJSON(self.metadataJSON) }
        }
        router.get(RouterPath(paths.health)) { _, _ in Responses.publicJSON(#"{"status":"ok"}"#) }
        router.get(RouterPath(paths.ready)) { _, context in await self.ready(context: context) }
        router.get(RouterPath(paths.home)) { _, _ in self.home() }
        router.get("/favicon.ico") { _, _ in Self.favicon() }
        if !paths.base.isEmpty {
            router.get("/health") { _, _ in Responses.publicJSON(#"{"status":"ok"}"#) }
            router.get("/ready") { _, context in await self.ready(context: context) }
        }
    }

    /// `GET /ready`: 200 when the stores answer and signing keys are loaded, else 503, for load
    /// balancers and Kubernetes readiness probes (`/health` says only that the process is up).
    /// Never cached; the reason is logged, not sent.
    func ready(context: PixyRequestContext) async -> Response {
        var state = await readiness.state()
        if state == .ready, !jwksJSON().contains("\"kid\"") { state = .unavailable(reason: "no signing key is loaded") }
        let body: String
        let status: HTTPResponse.Status
        switch state {
        case .ready:
            (status, body) = (.ok, #"{"status":"ready"}"#)
        case .unavailable(let reason):
            context.logger.warning("not ready", metadata: ["reason": "\(reason)"])
            (status, body) = (.serviceUnavailable, #"{"status":"unavailable"}"#)
        }
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// `GET /` below the issuer: names the server and links its metadata (RFC 8414 §3) and JWKS.
    func home() -> Response {
        Responses.html(pages.home(issuer: oauth.policy.issuer, metadataPath: paths.metadata[0], jwksPath: paths.jwks))
    }

    /// `GET /favicon.ico`: a static SVG icon, cacheable for a year, that runs nothing if opened.
    static func favicon() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "image/svg+xml", .cacheControl: "public, max-age=31536000",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'",
            ], body: .init(byteBuffer: ByteBuffer(string: Templates.favicon)))
    }

    func methodNotAllowed(allow: String) -> Response {
        var response = Responses.oauthError(.invalidRequest("This endpoint accepts \(allow) only."), realm: oauth.policy.issuer)
        response.status = .methodNotAllowed
        response.headers[.allow] = allow
        return response
    }

    /// The error page for failures that must not be redirected (docs/security.md §1.3), with the
    /// status of ``Responses/status(for:)``.
    func errorPage(_ error: OAuthError, continueURL: String? = nil) -> Response {
        let host = continueURL.map(RedirectDisplay.host(of:))
        var response = Responses.html(
            pages.error(
                code: error.code.rawValue, description: error.description,
                continueURL: continueURL, continueHost: host),
            status: Responses.status(for: error))
        if let retryAfter = Responses.retryAfter(for: error) { response.headers[.retryAfter] = retryAfter }
        return response
    }

    /// Runs a page handler; a failure it did not handle itself (the store is unreachable) becomes
    /// an error page, 503 when temporary, never a redirect (docs/security.md §10: fail closed).
    func page(_ context: PixyRequestContext, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch {
            context.logger.error("page failed", metadata: ["error": "\(error)"])
            return errorPage(.storageFailure(error, while: "page"))
        }
    }
}
