import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import HummingbirdCore
import Logging
import MCP
import NIOSSL
import PixyResource

/// `pixy-example-mcp`: a small MCP server (Streamable HTTP, stateless JSON mode, modelcontextprotocol/swift-sdk)
/// protected by Pixy through PixyResource. Each user keeps private notes:
/// - `list_notes` and `whoami` need scope `read`;
/// - `add_note` needs scope `write` (a `read`-only token gets `403 insufficient_scope`, and an MCP
///   client re-authorizes with `read write`: step-up).
@main
struct NotesMCP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pixy-example-mcp", abstract: "An example MCP server protected by a Pixy issuer.")

    @Option(help: "The Pixy issuer that protects this server.") var issuer = "http://127.0.0.1:8080"
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind.") var port = 8000
    @Option(
        name: .customLong("public-url"),
        help: "This server's public base URL (default http[s]://127.0.0.1:<port>); the MCP endpoint is <public-url>/mcp.")
    var publicURL: String?
    @Option(name: .customLong("issuer-ca-file"), help: "PEM CA certificates trusted for the issuer, besides the system's.")
    var issuerCAFile: String?
    @Option(name: .customLong("tls-cert"), help: "Serve TLS with this certificate chain (PEM).") var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "The TLS private key (PEM).") var tlsKey: String?
    @Option(name: .customLong("clock-skew"), help: "Seconds of clock difference tolerated on exp/nbf (default 30).")
    var clockSkew: Int = 30
    @Option(
        name: .customLong("introspection-client-id"),
        help: "Check tokens with the issuer's /introspect (sees revocation at once) as this confidential client.")
    var introspectionClientID: String?
    @Option(name: .customLong("introspection-client-secret"), help: "Its secret (or env NOTES_INTROSPECTION_SECRET).")
    var introspectionClientSecret: String?

    func run() async throws {
        let scheme = tlsCertificate == nil ? "http" : "https"
        let base = (publicURL ?? "\(scheme)://127.0.0.1:\(port)").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        var resource = ProtectedResource(
            resource: base + "/mcp", issuer: issuer, scopesSupported: ["read", "write"],
            resourceName: "Pixy example notes")
        resource.clockSkew = .seconds(clockSkew)
        if let clientID = introspectionClientID {
            guard let secret = introspectionClientSecret ?? ProcessInfo.processInfo.environment["NOTES_INTROSPECTION_SECRET"] else {
                throw ValidationError("--introspection-client-id needs a secret")
            }
            resource.verification = .introspection(clientID: clientID, clientSecret: secret)
        }
        let logger = Logger(label: "notes-mcp")
        let issuerClient = HTTPIssuerClient(trustedCAFile: issuerCAFile)
        let verifier = AccessTokenVerifier(resource: resource, client: issuerClient)
        let endpoint = MCPEndpoint(notes: NotesStore(), verifier: verifier, allowedHosts: Self.allowedHosts(base: base, port: port))

        let router = Router(context: ResourceRequestContext.self)
        router.addProtectedResourceMetadata(resource)
        router.get("/health") { _, _ in "ok" }
        router.group("/mcp")
            .add(
                middleware: BearerAuthenticationMiddleware(resource: resource, verifier: verifier) { request, context in
                    try await Self.requiredScopes(request, context: context)
                }
            )
            .on("", method: .post) { request, context in await endpoint.handle(request, context: context) }
            .on("", method: .get) { request, context in await endpoint.handle(request, context: context) }
            .on("", method: .delete) { request, context in await endpoint.handle(request, context: context) }

        let server: HTTPServerBuilder
        if let tlsCertificate, let tlsKey {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tlsCertificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem)))
            tls.applicationProtocols = ["http/1.1"]
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        let app = Application(
            router: router, server: server, configuration: .init(address: .hostname(host, port: port)),
            services: [issuerClient], logger: logger)
        print("notes MCP server: \(resource.resource) (issuer \(issuer))")
        try await app.runService()
    }

    /// Hosts the MCP transport accepts in `Host`/`Origin` (DNS rebinding protection): loopback
    /// on this port, and the public URL's host.
    static func allowedHosts(base: String, port: Int) -> [String] {
        var hosts = ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"]
        if let components = URLComponents(string: base), let host = components.host {
            hosts.append(components.port.map { "\(host):\($0)" } ?? host)
        }
        return hosts
    }

    /// Which scopes an MCP request needs: `read` for everything, `write` for `add_note`. Reads
    /// the JSON-RPC body, then puts it back for the MCP transport.
    static func requiredScopes(_ request: Request, context: ResourceRequestContext) async throws -> (Request, [String]) {
        guard request.method == .post else { return (request, ["read"]) }
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        struct Call: Decodable {
            struct Parameters: Decodable { var name: String? }
            var method: String?
            var params: Parameters?
        }
        if let call = try? JSONDecoder().decode(Call.self, from: Data(body.readableBytesView)),
            call.method == "tools/call", call.params?.name.map(Tools.writing.contains) == true
        {
            return (request, ["write"])
        }
        return (request, ["read"])
    }
}

/// The tools, by the scope they need.
enum Tools {
    static let writing: Set<String> = ["add_note"]

    static let list: [Tool] = [
        Tool(
            name: "whoami", description: "Who the access token says you are: user, client and scopes.",
            inputSchema: .object(["type": "object", "properties": .object([:])]), annotations: .init(readOnlyHint: true)),
        Tool(
            name: "list_notes", description: "List your notes.",
            inputSchema: .object(["type": "object", "properties": .object([:])]), annotations: .init(readOnlyHint: true)),
        Tool(
            name: "add_note", description: "Add a note (needs the write scope).",
            inputSchema: .object([
                "type": "object", "properties": .object(["text": .object(["type": "string"])]), "required": .array(["text"]),
            ])),
    ]
}

/// Notes per user, in memory.
actor NotesStore {
    private var notes: [String: [String]] = [:]

    func add(_ text: String, for subject: String) -> Int {
        notes[subject, default: []].append(text)
        return notes[subject]!.count
    }

    func all(for subject: String) -> [String] { notes[subject] ?? [] }
}

/// The MCP endpoint over Streamable HTTP in its stateless form: every POST is answered with one
/// JSON response by a fresh MCP `Server` (tools are pure functions of the request and the user's
/// notes), so no session state lives in this process and any number of replicas can serve it.
/// Why JSON and not an SSE stream: the Swift SDK's client on Linux cannot read SSE responses yet
/// (it hands the raw `data:` lines to its JSON decoder), and nothing here needs server-initiated
/// messages. GET (the optional SSE stream) and DELETE answer 405, which clients handle.
actor MCPEndpoint {
    private let notes: NotesStore
    private let verifier: AccessTokenVerifier
    private let allowedHosts: [String]

    init(notes: NotesStore, verifier: AccessTokenVerifier, allowedHosts: [String]) {
        self.notes = notes
        self.verifier = verifier
        self.allowedHosts = allowedHosts
    }

    func handle(_ request: Request, context: ResourceRequestContext) async -> Response {
        guard request.method == .post else {
            return Response(status: .methodNotAllowed, headers: [.allow: "POST"])
        }
        var request = request
        let body = try? await request.collectBody(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let mcpRequest = MCP.HTTPRequest(
            method: request.method.rawValue, headers: headers,
            body: body.map { Data($0.readableBytesView) }, path: request.uri.path)
        let transport = StatelessHTTPServerTransport(
            validationPipeline: StandardValidationPipeline(validators: [
                // DNS rebinding protection: only this server's own host names.
                OriginValidator(allowedHosts: allowedHosts, allowedOrigins: allowedHosts.flatMap { ["http://\($0)", "https://\($0)"] }),
                AcceptHeaderValidator(mode: .jsonOnly), ContentTypeValidator(), ProtocolVersionValidator(),
            ]))
        let server = await makeServer()
        do {
            try await server.start(transport: transport)
        } catch {
            return Self.hummingbirdResponse(.error(statusCode: 500, .internalError("The MCP server could not start")))
        }
        let response = await transport.handleRequest(mcpRequest)
        await server.stop()
        return Self.hummingbirdResponse(response)
    }

    private func makeServer() async -> MCP.Server {
        let server = MCP.Server(name: "pixy-example-notes", version: "1.0.0", capabilities: .init(tools: .init(listChanged: false)))
        let notes = notes
        let verifier = verifier
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: Tools.list) }
        await server.withMethodHandler(CallTool.self) { call in
            // The bearer middleware already checked the token and the tool's scope; read who it
            // is for from the same header.
            guard let header = MCP.Server.currentHandlerContext?.httpContext?.header("Authorization"),
                let token = header.split(separator: " ").last.map(String.init),
                let identity = try? await verifier.verify(token)
            else {
                return CallTool.Result(content: [.text("not authorized")], isError: true)
            }
            switch call.name {
            case "whoami":
                return CallTool.Result(content: [
                    .text(
                        "user \(identity.subject), client \(identity.clientID), scopes \(identity.scopes.sorted().joined(separator: " "))")
                ])
            case "list_notes":
                let all = await notes.all(for: identity.subject)
                return CallTool.Result(content: [
                    .text(all.isEmpty ? "no notes yet" : all.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n"))
                ])
            case "add_note":
                guard case .string(let text)? = call.arguments?["text"], !text.isEmpty else {
                    return CallTool.Result(content: [.text("add_note needs a non-empty text")], isError: true)
                }
                let count = await notes.add(text, for: identity.subject)
                return CallTool.Result(content: [.text("saved note \(count)")])
            default:
                return CallTool.Result(content: [.text("unknown tool \(call.name)")], isError: true)
            }
        }
        return server
    }

    private static func hummingbirdResponse(_ response: MCP.HTTPResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        let status = HTTPTypes.HTTPResponse.Status(code: response.statusCode)
        switch response {
        case .stream(let stream, _):
            let buffers = stream.map { ByteBuffer(bytes: $0) }
            return Response(status: status, headers: fields, body: ResponseBody(asyncSequence: buffers))
        default:
            let body = response.bodyData.map { ByteBuffer(bytes: $0) } ?? ByteBuffer()
            return Response(status: status, headers: fields, body: .init(byteBuffer: body))
        }
    }
}
