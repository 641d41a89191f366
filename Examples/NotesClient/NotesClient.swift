import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Logging
import MCP
import NIOCore
import NIOHTTP1
import NIOPosix
import PixyModel

/// `pixy-example-mcp-client`: connects to an MCP server protected by Pixy with the Swift MCP
/// SDK's `HTTPClientTransport` and `OAuthAuthorizer`, the way a native app does (RFC 8252): it
/// registers dynamically, prints the authorization URL for the user's browser, receives the
/// redirect on a loopback port, and then calls tools. Each `--call` runs in order; a tool needing
/// more scope makes the server answer `403 insufficient_scope`, and the SDK asks again (a second
/// sign-in URL, for the union of scopes).
///
/// The SDK (0.12.1) discovers everything: the 401 challenge, Protected Resource Metadata, the
/// authorization server's metadata, the canonical resource, the scopes to ask for, and step-up.
/// Its own authorization-code step cannot run on Linux (`PKCE.makeChallenge` needs CryptoKit and
/// throws `pkceS256Unavailable` elsewhere), so this client plugs that step in through the SDK's
/// `accessTokenProvider` hook with PixyModel's PKCE: registration, the code with S256 and
/// `resource`, the RFC 9207 `iss` check, and refresh.
///
/// Output, one line per event, for people and scripts alike: `AUTHORIZE <url>`, `REGISTERED <id>`,
/// `REFRESHED`, `TOOLS <names>`, `RESULT <tool> <text>`, `ERROR <message>`.
@main
struct NotesClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pixy-example-mcp-client", abstract: "An example Swift MCP client that signs in to a Pixy-protected MCP server.")

    @Option(help: "The MCP endpoint, e.g. https://mcp.example.com/mcp.") var server: String
    @Option(name: .customLong("call"), help: "A tool to call, optionally with JSON arguments: add_note='{\"text\":\"hi\"}' (repeat).")
    var calls: [String] = []
    @Option(name: .customLong("wait-between-calls"), help: "Seconds to wait between calls (to let an access token expire).")
    var waitBetweenCalls: Double = 0

    func run() async throws {
        guard let endpoint = URL(string: server) else { throw ValidationError("--server must be a URL") }
        let listener = try await LoopbackRedirectListener.start()
        let signIn = SignIn(listener: listener)
        let configuration = OAuthConfiguration(
            grantType: .authorizationCode, authentication: .none(clientID: ""),
            authorizationRedirectURI: listener.redirectURI, clientName: "Pixy example Swift client",
            accessTokenProvider: { context, session in try await signIn.accessToken(for: context, session: session) },
            proactiveRefreshWindowSeconds: 0)
        let transport = HTTPClientTransport(endpoint: endpoint, streaming: false, authorizer: OAuthAuthorizer(configuration: configuration))
        let client = Client(name: "pixy-example-mcp-client", version: "1.0.0")
        do {
            _ = try await client.connect(transport: transport)
            let (tools, _) = try await client.listTools()
            say("TOOLS \(tools.map(\.name).sorted().joined(separator: " "))")
            for (index, call) in calls.enumerated() {
                if index > 0, waitBetweenCalls > 0 { try await Task.sleep(for: .seconds(waitBetweenCalls)) }
                let (name, arguments) = try Self.parse(call)
                let (content, isError) = try await client.callTool(name: name, arguments: arguments)
                let text = content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined(separator: " ")
                say("\(isError == true ? "TOOLERROR" : "RESULT") \(name) \(text.replacingOccurrences(of: "\n", with: " | "))")
            }
            await client.disconnect()
        } catch {
            say("ERROR \(error)")
            listener.close()
            throw ExitCode.failure
        }
        listener.close()
    }

    static func parse(_ call: String) throws -> (String, [String: Value]?) {
        guard let equals = call.firstIndex(of: "=") else { return (call, nil) }
        let json = Data(call[call.index(after: equals)...].utf8)
        return (String(call[..<equals]), try JSONDecoder().decode([String: Value].self, from: json))
    }
}

/// The authorization-code step, plugged into the SDK: dynamic registration once, then per
/// challenge either a refresh (same scopes, tokens expired) or a sign-in through the browser for
/// the union of what was granted and what the server asks for (step-up).
actor SignIn {
    private let listener: LoopbackRedirectListener
    private var clientID: String?
    private var refreshToken: String?
    private var grantedScopes: Set<String> = []

    init(listener: LoopbackRedirectListener) { self.listener = listener }

    struct Failure: Error, CustomStringConvertible { let description: String }

    func accessToken(for context: OAuthConfiguration.AccessTokenProviderContext, session: URLSession) async throws -> String? {
        guard let authorizationEndpoint = context.authorizationEndpoint, let tokenEndpoint = context.tokenEndpoint,
            let issuer = context.authorizationServer
        else { throw Failure(description: "the authorization server metadata is incomplete") }
        let wanted = context.requestedScopes ?? Set((context.challengedScope ?? "").split(separator: " ").map(String.init))
        if context.statusCode == 401, let refreshToken, let clientID, wanted.isSubset(of: grantedScopes) {
            // RFC 6749 §6: the access token expired; the refresh token rotates.
            let tokens = try await post(
                tokenEndpoint,
                form: [
                    ("grant_type", "refresh_token"), ("refresh_token", refreshToken),
                    ("client_id", clientID),
                ], session: session)
            if let access = tokens["access_token"] as? String {
                self.refreshToken = tokens["refresh_token"] as? String ?? refreshToken
                say("REFRESHED")
                return access
            }
        }
        let clientID = try await registeredClientID(context.registrationEndpoint, session: session)
        let scopes = grantedScopes.union(wanted)
        let pkce = PKCEPair.generate()
        let state = UUID().uuidString
        var components = URLComponents(url: authorizationEndpoint, resolvingAgainstBaseURL: false)!
        components.queryItems = [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: clientID),
            URLQueryItem(name: "redirect_uri", value: listener.redirectURI.absoluteString),
            URLQueryItem(name: "scope", value: scopes.sorted().joined(separator: " ")), URLQueryItem(name: "state", value: state),
            URLQueryItem(name: "code_challenge", value: pkce.challenge.value), URLQueryItem(name: "code_challenge_method", value: "S256"),
            URLQueryItem(name: "resource", value: context.resource.absoluteString),
        ]
        say("AUTHORIZE \(components.url!.absoluteString)")
        let redirect = try await listener.nextRedirect()
        let items = URLComponents(url: redirect, resolvingAgainstBaseURL: false)?.queryItems ?? []
        func value(_ name: String) -> String? { items.first { $0.name == name }?.value }
        guard value("state") == state else { throw Failure(description: "state mismatch") }
        // RFC 9207: the response names its issuer; a mix-up attack would show another one.
        guard value("iss") == issuer.absoluteString else { throw Failure(description: "iss mismatch: \(value("iss") ?? "none")") }
        guard let code = value("code") else { throw Failure(description: "authorization failed: \(value("error") ?? "no code")") }
        let tokens = try await post(
            tokenEndpoint,
            form: [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", listener.redirectURI.absoluteString),
                ("code_verifier", pkce.verifier.value), ("client_id", clientID), ("resource", context.resource.absoluteString),
            ], session: session)
        guard let access = tokens["access_token"] as? String else { throw Failure(description: "no access token: \(tokens)") }
        refreshToken = tokens["refresh_token"] as? String
        grantedScopes = Set(((tokens["scope"] as? String) ?? "").split(separator: " ").map(String.init))
        return access
    }

    private func registeredClientID(_ endpoint: URL?, session: URLSession) async throws -> String {
        if let clientID { return clientID }
        guard let endpoint else { throw Failure(description: "the authorization server offers no registration") }
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "client_name": "Pixy example Swift client", "redirect_uris": [listener.redirectURI.absoluteString],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none",
        ])
        let (data, _) = try await session.data(for: request)
        guard let id = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["client_id"] as? String else {
            throw Failure(description: "registration failed: \(String(decoding: data, as: UTF8.self))")
        }
        say("REGISTERED \(id)")
        clientID = id
        return id
    }

    private func post(_ url: URL, form: [(String, String)], session: URLSession) async throws -> [String: Any] {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        request.httpBody = Data(
            form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
                .joined(separator: "&").utf8)
        let (data, _) = try await session.data(for: request)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }
}

/// Prints a line and flushes, so a supervising process sees it at once.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// A one-route HTTP server on 127.0.0.1 and an ephemeral port (RFC 8252 §7.3): each GET
/// `/callback?…` it receives completes the pending sign-in with that URL.
final class LoopbackRedirectListener: @unchecked Sendable {
    let redirectURI: URL
    private let channel: any Channel
    private let redirects: AsyncStream<URL>
    private let continuation: AsyncStream<URL>.Continuation

    private init(channel: any Channel, port: Int, redirects: AsyncStream<URL>, continuation: AsyncStream<URL>.Continuation) {
        self.channel = channel
        redirectURI = URL(string: "http://127.0.0.1:\(port)/callback")!
        self.redirects = redirects
        self.continuation = continuation
    }

    static func start() async throws -> LoopbackRedirectListener {
        let (stream, continuation) = AsyncStream<URL>.makeStream()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(CallbackHandler(continuation: continuation))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoopbackRedirectListener(
            channel: channel, port: channel.localAddress?.port ?? 0, redirects: stream, continuation: continuation)
    }

    func nextRedirect() async throws -> URL {
        for await url in redirects { return url }
        throw CancellationError()
    }

    func close() {
        continuation.finish()
        channel.close(promise: nil)
    }

    private final class CallbackHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let continuation: AsyncStream<URL>.Continuation

        init(continuation: AsyncStream<URL>.Continuation) { self.continuation = continuation }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let found = head.uri.hasPrefix("/callback?")
            if found, let url = URL(string: "http://127.0.0.1\(head.uri)") { continuation.yield(url) }
            let body = found ? "Signed in. You can close this window." : "Not found"
            var headers = HTTPHeaders([
                ("Content-Type", "text/plain"), ("Content-Length", String(body.utf8.count)), ("Connection", "close"),
            ])
            headers.add(name: "Cache-Control", value: "no-store")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }
}
