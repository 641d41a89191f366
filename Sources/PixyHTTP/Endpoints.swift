import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import PixyCore
import PixyModel

/// `POST /token`, `/revoke`, `/introspect` and `/register`: decode, ask ``OAuthServer``, render.
extension AuthorizationServer {
    /// Decodes a client-authenticated form request (RFC 6749 §2.3, §3.2): Basic credentials, the
    /// form, and repeated parameters, each checked once here. `nil` credentials and an error when
    /// the request cannot be decoded.
    func decode<Body: ClientAuthenticatedBody>(_ request: Request, as body: Body.Type) async -> Result<
        ClientAuthenticated<Body>, DecodingFailure
    > {
        let basic: (clientID: String, secret: String)?
        switch RequestReading.basicCredentials(request) {
        case .none: basic = nil
        case .success(let credentials): basic = credentials
        case .failure(let error): return .failure(DecodingFailure(error: error, usedBasic: true))
        }
        do {
            let form = try await RequestReading.form(request)
            return .success(try ClientAuthenticated<Body>(form: form, basic: basic))
        } catch {
            return .failure(DecodingFailure(error: error, usedBasic: basic != nil))
        }
    }

    /// A request that could not be decoded, and whether it tried Basic (for `WWW-Authenticate`).
    struct DecodingFailure: Error {
        let error: OAuthError
        let usedBasic: Bool
    }

    /// The shape every client-authenticated form endpoint shares: decode, run `handle`, and
    /// throw an RFC 6749 §5.2 error (``OAuthErrorResponse``) on failure.
    func formEndpoint<Body: ClientAuthenticatedBody, Value>(
        _ request: Request, context: PixyRequestContext, name: String, as body: Body.Type,
        _ handle: (ClientAuthenticated<Body>) async -> Result<Value, OAuthError>, render: (Value) -> Response
    ) async throws(OAuthErrorResponse) -> Response {
        let realm = oauth.policy.issuer
        let decoded: ClientAuthenticated<Body>
        switch await decode(request, as: body) {
        case .failure(let failure):
            context.notes.note(outcome: Result<Void, OAuthError>.failure(failure.error))
            throw OAuthErrorResponse(error: failure.error, usedBasic: failure.usedBasic, realm: realm)
        case .success(let value): decoded = value
        }
        context.notes.note(clientID: decoded.credentials.basic?.clientID ?? decoded.credentials.formClientID)
        let outcome = await handle(decoded)
        context.notes.note(outcome: outcome)
        switch outcome {
        case .success(let value):
            return render(value)
        case .failure(let error):
            if let reason = error.logReason {
                context.logger.info("\(name) request refused", metadata: ["error": "\(error.code)", "detail": "\(reason)"])
            }
            throw OAuthErrorResponse(error: error, usedBasic: decoded.credentials.usedBasic, realm: realm)
        }
    }

    func token(_ request: Request, context: PixyRequestContext) async throws -> Response {
        oauth.telemetry.clientRequest(userAgent: request.headers[.userAgent])
        return try await formEndpoint(request, context: context, name: "token", as: TokenRequest.self, oauth.token) {
            Responses.tokenResponse($0)
        }
    }

    /// RFC 7009 §2.2: 200 whether or not there was anything to revoke.
    func revoke(_ request: Request, context: PixyRequestContext) async throws -> Response {
        try await formEndpoint(request, context: context, name: "revocation", as: RevocationRequest.self, oauth.revoke) { outcome in
            context.logger.info("revocation", metadata: ["outcome": "\(outcome)"])
            return Response(status: .ok, headers: [.cacheControl: "no-store", .pragma: "no-cache"])
        }
    }

    func introspect(_ request: Request, context: PixyRequestContext) async throws -> Response {
        try await formEndpoint(request, context: context, name: "introspection", as: IntrospectionRequest.self, oauth.introspect) {
            Responses.noStoreJSON($0)
        }
    }

    func registerClient(_ request: Request, context: PixyRequestContext) async throws -> Response {
        oauth.telemetry.clientRequest(userAgent: request.headers[.userAgent])
        let realm = oauth.policy.issuer
        func refuse(_ error: OAuthError) -> OAuthErrorResponse {
            context.notes.note(outcome: Result<Void, OAuthError>.failure(error))
            return OAuthErrorResponse(error: error, usedBasic: false, realm: realm)
        }
        guard RequestReading.hasContentType(request, "application/json") else {
            throw refuse(.invalidRequest("The request body must be application/json."))
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: RequestReading.maximumRegistrationBody) } catch {
            throw refuse(OAuthError(.invalidClientMetadata, "The registration request is too large."))
        }
        let metadata: ClientMetadataRequest
        do { metadata = try JSONDecoder().decode(ClientMetadataRequest.self, from: Data(body.readableBytesView)) } catch {
            throw refuse(OAuthError(.invalidClientMetadata, "The client metadata is not valid JSON of the expected shape."))
        }
        switch await oauth.register(metadata, caller: context.caller) {
        case .success(let registration):
            context.notes.note(clientID: registration.response.clientID)
            context.notes.note(outcome: Result<Void, OAuthError>.success(()))
            return Responses.noStoreJSON(registration.response, status: .created)
        case .failure(let error): throw refuse(error)
        }
    }
}

/// Security headers by kind of endpoint, and CORS only where browser clients need it.
struct HeaderPolicyMiddleware: RouterMiddleware {
    typealias Context = PixyRequestContext
    let interactive: Set<String>
    let crossOrigin: Set<String>
    /// The page policy (``PageBranding/contentSecurityPolicy``): strict, plus `img-src` for a logo.
    let contentSecurityPolicy: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let isCrossOrigin = crossOrigin.contains(path)
        // Preflight for browser MCP clients (docs/security.md §10); never for /authorize or the pages.
        if request.method == .options, isCrossOrigin {
            return Response(
                status: .noContent,
                headers: [
                    .accessControlAllowOrigin: "*",
                    .accessControlAllowMethods: "GET, POST, OPTIONS",
                    .accessControlAllowHeaders: "Authorization, Content-Type, MCP-Protocol-Version",
                    .accessControlMaxAge: "600",
                ])
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as OAuthErrorResponse {
            // An OAuth error is a response like any other: it gets the same headers (CORS, nosniff).
            response = try error.response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        // Every HTML response gets the page policy, whatever path reached it (`/consent/`,
        // `//consent`, an error page): the router may match spellings the set does not list.
        let isHTML = response.headers[.contentType]?.lowercased().hasPrefix("text/html") ?? false
        if isHTML || interactive.contains(Self.normalized(path)) {
            // docs/security.md §8: no framing (clickjacking on consent), no caching, no referrer leaking codes.
            response.headers[.xFrameOptions] = "DENY"
            response.headers[.contentSecurityPolicy] = contentSecurityPolicy
            response.headers[.referrerPolicy] = "no-referrer"
            response.headers[.cacheControl] = "no-store"
            response.headers[.pragma] = "no-cache"
        } else if isCrossOrigin {
            response.headers[.accessControlAllowOrigin] = "*"
        }
        return response
    }

    /// `path` with runs of `/` collapsed and no trailing `/`, as routers commonly match it.
    static func normalized(_ path: String) -> String {
        var result = ""
        for character in path where !(character == "/" && result.hasSuffix("/")) { result.append(character) }
        while result.count > 1, result.hasSuffix("/") { result.removeLast() }
        return result
    }
}

/// Gives every request an id: the caller's `X-Request-ID` when it is a short token of safe
/// characters (so a proxy's id follows the request through), else a fresh one. The id is in every
/// log line of the request (`request_id`) and echoed in the response's `X-Request-ID`.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = PixyRequestContext

    /// Longest id accepted from a caller.
    static let maximumLength = 128

    /// `value` when it is 1–128 characters of letters, digits and `-._:`; anything else (which
    /// could forge log lines or carry a secret) is replaced.
    static func accepted(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= maximumLength,
            value.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
            })
        else { return nil }
        return value
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = Self.accepted(request.headers[.xRequestID]) ?? SecureRandom.token(byteCount: 12)
        var context = context
        context.logger[metadataKey: "request_id"] = "\(id)"
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.xRequestID] = id
        return response
    }
}

/// One log line per request: method, path (never the query, which can hold a code or
/// `state`), status and duration, also as the fields `method`, `path`, `status` and
/// `duration_ms` for structured logs. Bodies and headers are never logged.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = PixyRequestContext
    /// Counts requests by route, method and status, and times them
    /// (`pixy_http_requests_total`, `pixy_http_request_duration_seconds`).
    let telemetry: Telemetry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        func log(_ status: Int) {
            let elapsed = ContinuousClock.now - start
            // Tenths of a millisecond, rounded, written with integers: `String(format:)` goes through printf.
            let tenths =
                elapsed.components.seconds * 10_000 + (elapsed.components.attoseconds + 50_000_000_000_000) / 100_000_000_000_000
            let duration = "\(tenths / 10).\(tenths % 10)"
            // The route is the matched pattern (`/upstream/{provider}/callback`), never the raw
            // path: a label must not grow with what clients send.
            let route = context.endpointPath ?? "unmatched"
            let method = Self.methodLabel(request.method)
            let statusText = String(status)
            var metadata: Logger.Metadata = [:]
            metadata.reserveCapacity(9)
            metadata["source"] = .string(context.clientAddress ?? context.remoteAddress?.ipAddress ?? "unknown")
            metadata["method"] = .string(request.method.rawValue)
            metadata["path"] = .string(request.uri.path)
            metadata["route"] = .string(route)
            metadata["status"] = .string(statusText)
            metadata["duration_ms"] = .string(duration)
            let notes = context.notes.current
            if let clientID = notes.clientID { metadata["client_id"] = "\(clientID)" }
            if let outcome = notes.outcome { metadata["outcome"] = "\(outcome)" }
            if let reason = notes.reason { metadata["reason"] = "\(reason)" }
            context.logger.info("\(request.method) \(request.uri.path) \(status) \(duration)ms", metadata: metadata)
            telemetry.increment("pixy_http_requests_total", [("route", route), ("method", method), ("status", statusText)])
            telemetry.record("pixy_http_request_duration_seconds", duration: elapsed, [("route", route), ("method", method)])
        }
        do {
            let response = try await next(request, context)
            log(response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            log(error.status.code)
            throw error
        } catch {
            log(500)
            throw error
        }
    }
}

extension RequestLogMiddleware {
    /// The method as a label: the methods Pixy serves, `other` for anything a client invents.
    static func methodLabel(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .post, .head, .options: method.rawValue
        default: "other"
        }
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let pragma = Self("Pragma")!
    static let xRequestID = Self("X-Request-ID")!
}
