public import Foundation
import PixyModel

/// How the client gets a `client_id` at an authorization server, in the order MCP clients try:
/// one registered beforehand, a Client ID Metadata Document URL when the server supports them,
/// else dynamic registration (RFC 7591). Dynamic registrations are kept per issuer.
public struct ClientRegistration: Sendable {
    /// A `client_id` registered beforehand (a public client; PKCE is its proof).
    public var clientID: String?
    /// An https URL serving this client's metadata document, used as its `client_id`.
    public var metadataDocument: URL?
    /// Whether to register dynamically when neither of the above applies.
    public var allowsDynamicRegistration: Bool

    /// Registration as described above.
    public init(clientID: String? = nil, metadataDocument: URL? = nil, allowsDynamicRegistration: Bool = true) {
        self.clientID = clientID
        self.metadataDocument = metadataDocument
        self.allowsDynamicRegistration = allowsDynamicRegistration
    }
}

/// Who completes the authorization request: a person in a browser, or a program.
public enum UserAgent: Sendable {
    /// A browser: `open` is given the authorization URL; the response comes to the loopback
    /// listener (RFC 8252 §7.3).
    case browser(open: @Sendable (URL) async throws -> Void)
    /// A program: given the authorization URL and the redirect URI, it returns the URL the
    /// server redirected to (for example ``PixyFormSignIn``).
    case automatic(@Sendable (_ authorizationURL: URL, _ redirectURI: URL) async throws -> URL)

    /// Opens the system browser (`xdg-open` on Linux, `open` on macOS) and always prints the URL
    /// on standard error as well, for machines without one.
    public static let systemBrowser = UserAgent.browser { url in try await open(url) }

    /// Prints `url` on standard error and opens it with `xdg-open` or `open` where one exists.
    public static func open(_ url: URL) async throws {
        FileHandle.standardError.write(Data("Open this URL to sign in:\n  \(url.absoluteString)\n".utf8))
        let opener = ["/usr/bin/xdg-open", "/usr/bin/open"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let opener else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: opener)
        process.arguments = [url.absoluteString]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }
}

/// The tokens a sign-in or refresh produced.
public struct Tokens: Sendable {
    /// The access token.
    public var accessToken: String
    /// The granted scopes.
    public var scopes: Set<String>
    /// The issuer.
    public var issuer: String
}

/// An OAuth 2.1 public client with PKCE (RFC 7636, S256) for MCP servers and other protected
/// resources: discovery, registration, sign-in through a loopback redirect, `resource` on every
/// request (RFC 8707), the `iss` check (RFC 9207), refresh with rotation, and step-up for more
/// scope. Tokens are kept in a ``TokenFile`` when one is given.
public actor PixyClient {
    /// Settings that rarely change.
    public struct Configuration: Sendable {
        /// The name shown on consent pages (`client_name`, RFC 7591 §2).
        public var clientName: String
        /// How to get a `client_id`.
        public var registration: ClientRegistration
        /// Who completes the authorization request.
        public var userAgent: UserAgent
        /// Where tokens are kept; nil keeps them in memory only.
        public var tokenFile: TokenFile?
        /// The HTTP client.
        public var http: any ClientHTTP
        /// Refresh when the access token has less than this left.
        public var refreshMargin: TimeInterval
        /// How long a browser sign-in may take before it fails (a closed tab never answers).
        public var signInTimeout: Duration = .seconds(300)
        /// Whether ``PixyClient/accessToken(for:scopes:)`` may start a sign-in when no kept or
        /// refreshed token will do; when false it throws `login_required` first, before it
        /// registers anything (for scripts: `pixy token`).
        public var signsInWhenNeeded = true
        /// The clock (injected for tests).
        public var now: @Sendable () -> Date

        /// A configuration; by default the system browser, dynamic registration, no file.
        public init(
            clientName: String = "PixyClient", registration: ClientRegistration = .init(), userAgent: UserAgent = .systemBrowser,
            tokenFile: TokenFile? = nil, http: any ClientHTTP = AsyncHTTPClientHTTP.shared, refreshMargin: TimeInterval = 30,
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.clientName = clientName
            self.registration = registration
            self.userAgent = userAgent
            self.tokenFile = tokenFile
            self.http = http
            self.refreshMargin = refreshMargin
            self.now = now
        }
    }

    /// The configuration.
    public let configuration: Configuration
    private var servers: [String: DiscoveredServer] = [:]
    private var sessions: [String: StoredSession] = [:]
    private var clients: [String: StoredClient] = [:]
    private var listener: LoopbackRedirectListener?
    /// The token request under way per resource: callers that arrive meanwhile wait for it
    /// instead of starting a second sign-in.
    private var inFlight: [String: Task<String, any Error>] = [:]
    /// Refresh tokens this process has presented: never presented twice, even when the file
    /// could not be written after a rotation.
    private var spentRefreshTokens: Set<String> = []

    /// A client with `configuration`.
    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    deinit { listener?.close() }

    /// Stops the loopback listener, if one was started.
    public func close() {
        listener?.close()
        listener = nil
    }

    /// What protects `url` (cached after the first call).
    public func server(for url: URL) async throws -> DiscoveredServer {
        if let known = servers[url.absoluteString] { return known }
        let found = try await Discovery(http: configuration.http).discover(url)
        servers[url.absoluteString] = found
        return found
    }

    /// A valid access token for `url`: the kept one while it lasts, else a refreshed one, else
    /// one from a new sign-in. `scopes` defaults to what the resource's challenge asks for.
    public func accessToken(for url: URL, scopes: Set<String>? = nil) async throws -> String {
        let server = try await server(for: url)
        let key = server.resource ?? server.issuer
        let flight = "\(key) token \(scopes.map { $0.sorted().joined(separator: " ") } ?? "*")"
        return try await singleFlight(flight) { try await self.currentToken(server: server, key: key, scopes: scopes) }
    }

    /// Runs `work` unless the same request for `key` is already under way, in which case the
    /// caller shares its result: concurrent 401s cause one refresh, not one rotation each. The
    /// shared request is never cancelled by a caller: one that has sent a refresh must keep its
    /// answer, or the next refresh would present a rotated token (reuse).
    private func singleFlight(_ key: String, _ work: @escaping @Sendable () async throws -> String) async throws -> String {
        if let running = inFlight[key] { return try await running.value }
        let task = Task { try await work() }
        inFlight[key] = task
        // The caller that started it clears it as soon as it resumes, so a later call never gets
        // a finished request's old answer.
        defer { if inFlight[key] == task { inFlight[key] = nil } }
        return try await task.value
    }

    /// The session kept for `key`, if it was issued by `server`'s issuer: tokens of another
    /// issuer are never sent to this one.
    private func held(_ key: String, at server: DiscoveredServer) async throws -> StoredSession? {
        guard let session = try await session(for: key), session.issuer == server.issuer else { return nil }
        return session
    }

    private func currentToken(server: DiscoveredServer, key: String, scopes: Set<String>?) async throws -> String {
        let wanted = scopes ?? defaultScopes(server)
        let held = try await held(key, at: server)
        // Without explicit scopes a kept token serves whatever was granted; the resource asks for
        // more with a 403 (step-up), so a server that grants less does not cause a sign-in loop.
        if let held, scopes == nil || wanted.isSubset(of: held.scopes) {
            guard let expiresAt = held.expiresAt, expiresAt.timeIntervalSince(configuration.now()) < configuration.refreshMargin else {
                return held.accessToken
            }
            if let refreshed = try await refreshUnlessRevoked(held, server: server, key: key) { return refreshed.accessToken }
        }
        try requireSignInAllowed(key)
        return try await signIn(to: server, scopes: wanted.union(held?.scopes ?? [])).accessToken
    }

    private func requireSignInAllowed(_ key: String) throws {
        guard configuration.signsInWhenNeeded else {
            throw PixyClientError("login_required", "no valid or refreshable token for \(key): sign in first")
        }
    }

    /// Answers a challenge from the resource: `401` means the token is no longer good (refresh,
    /// else sign in again); `403` with `insufficient_scope` asks for more scope, so the client
    /// signs in for the union of what it holds and what the challenge names (step-up).
    public func accessToken(for url: URL, after status: Int, challenge: BearerChallenge?) async throws -> String {
        let server = try await server(for: url)
        let key = server.resource ?? server.issuer
        let flight = "\(key) after \(status) \(challenge?.scope.sorted().joined(separator: " ") ?? "")"
        return try await singleFlight(flight) { try await self.answer(status, challenge: challenge, server: server, key: key) }
    }

    private func answer(_ status: Int, challenge: BearerChallenge?, server: DiscoveredServer, key: String) async throws -> String {
        let held = try await held(key, at: server)
        if status == 403, challenge?.error == "insufficient_scope" {
            try requireSignInAllowed(key)
            let wanted = (held?.scopes ?? []).union(challenge?.scope ?? [])
            return try await signIn(to: server, scopes: wanted).accessToken
        }
        if let held, let refreshed = try await refreshUnlessRevoked(held, server: server, key: key) { return refreshed.accessToken }
        try requireSignInAllowed(key)
        let wanted = (held?.scopes ?? defaultScopes(server)).union(challenge?.scope ?? [])
        return try await signIn(to: server, scopes: wanted).accessToken
    }

    /// A refresh; nil when the server says the grant is gone (`invalid_grant`, RFC 6749 §5.2),
    /// so only then does the caller sign in again. Any other failure (network, server error,
    /// the token file) is thrown: it is no reason to ask the user.
    private func refreshUnlessRevoked(_ session: StoredSession, server: DiscoveredServer, key: String) async throws -> StoredSession? {
        guard session.refreshToken != nil else { return nil }
        do {
            return try await refresh(session, server: server, key: key)
        } catch let error as PixyClientError where error.code == "invalid_grant" {
            return nil
        }
    }

    /// Forgets the tokens kept for `url` (the registration stays).
    public func signOut(of url: URL) async throws {
        let server = try await server(for: url)
        let key = server.resource ?? server.issuer
        sessions[key] = nil
        try await configuration.tokenFile?.setSession(nil, for: key)
    }

    private func defaultScopes(_ server: DiscoveredServer) -> Set<String> {
        if let challenged = server.challenge?.scope, !challenged.isEmpty { return Set(challenged) }
        return Set(server.resourceMetadata?.scopesSupported ?? [])
    }

    private func session(for key: String) async throws -> StoredSession? {
        if let session = sessions[key] { return session }
        let stored = try await configuration.tokenFile?.session(for: key)
        sessions[key] = stored
        return stored
    }

    private func keep(_ session: StoredSession, for key: String) async throws {
        sessions[key] = session
        try await configuration.tokenFile?.setSession(session, for: key)
    }

    /// A sign-in: registration, PKCE S256, the user agent, the response checks, the code
    /// exchange.
    public func signIn(to server: DiscoveredServer, scopes: Set<String>) async throws -> Tokens {
        let metadata = server.metadata
        guard let authorizationEndpoint = metadata.authorizationEndpoint, let tokenEndpoint = metadata.tokenEndpoint else {
            throw PixyClientError.discovery("the authorization server metadata has no authorization_endpoint or token_endpoint")
        }
        let listener = try await loopbackListener()
        let redirectURI = listener.redirectURI
        let clientID = try await clientID(at: server, redirectURI: redirectURI)
        let pkce = PKCEPair.generate()
        let state = SecureRandom.token(byteCount: 16)
        var components = URLComponents(url: authorizationEndpoint, resolvingAgainstBaseURL: false)!
        var query = components.queryItems ?? []
        query += [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: clientID),
            URLQueryItem(name: "redirect_uri", value: redirectURI.absoluteString), URLQueryItem(name: "state", value: state),
            URLQueryItem(name: "code_challenge", value: pkce.challenge.value), URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        if !scopes.isEmpty { query.append(URLQueryItem(name: "scope", value: scopes.sorted().joined(separator: " "))) }
        if let resource = server.resource { query.append(URLQueryItem(name: "resource", value: resource)) }
        components.percentEncodedQuery = query.map { "\(FormEncoding.escape($0.name))=\(FormEncoding.escape($0.value ?? ""))" }
            .joined(separator: "&")
        let authorizationURL = components.url!

        let response: URL
        switch configuration.userAgent {
        case .browser(let open):
            let pending = listener.expectResponse(state: state)
            let timeout = configuration.signInTimeout
            do {
                try await open(authorizationURL)
                response = try await withThrowingTaskGroup(of: URL.self) { group in
                    group.addTask { try await pending.url }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        throw PixyClientError.authorization("the browser did not come back within \(timeout)")
                    }
                    defer { group.cancelAll() }
                    return try await group.next()!
                }
            } catch {
                pending.cancel()
                throw error
            }
        case .automatic(let agent):
            response = try await agent(authorizationURL, redirectURI)
        }
        let code = try Self.code(from: response, state: state, redirectURI: redirectURI, server: server)

        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI.absoluteString),
            ("code_verifier", pkce.verifier.value), ("client_id", clientID),
        ]
        if let resource = server.resource { form.append(("resource", resource)) }
        var session = try await tokenRequest(tokenEndpoint, form: form, server: server, clientID: clientID, previous: nil)
        // RFC 6749 §5.1: a response without scope granted exactly what was asked.
        if session.scope.isEmpty { session.scope = scopes.sorted().joined(separator: " ") }
        try await keep(session, for: server.resource ?? server.issuer)
        return Tokens(accessToken: session.accessToken, scopes: session.scopes, issuer: server.issuer)
    }

    /// Checks an authorization response (RFC 6749 §4.1.2, RFC 9207 §2.4) and returns its code.
    static func code(from response: URL, state: String, redirectURI: URL, server: DiscoveredServer) throws -> String {
        let got = URLComponents(url: response, resolvingAgainstBaseURL: false)
        guard got?.scheme == redirectURI.scheme, got?.host == redirectURI.host, got?.port == redirectURI.port,
            got?.path == redirectURI.path
        else {
            throw PixyClientError.authorization("the response did not come to the redirect URI")
        }
        let items = URLComponents(url: response, resolvingAgainstBaseURL: false)?.queryItems ?? []
        func value(_ name: String) -> String? { items.first { $0.name == name }?.value }
        guard value("state") == state else { throw PixyClientError.authorization("state mismatch") }
        // RFC 9207 §2.4: a present iss must equal the issuer; one the server promised must be there.
        if let iss = value("iss") {
            guard iss == server.issuer else { throw PixyClientError("iss_mismatch", "iss is \(iss), expected \(server.issuer)") }
        } else if server.metadata.issParameterSupported {
            throw PixyClientError("iss_mismatch", "the response has no iss, though the server's metadata promises one")
        }
        if let error = value("error") {
            throw PixyClientError.authorization("\(error)\(value("error_description").map { ": \($0)" } ?? "")")
        }
        guard let code = value("code"), !code.isEmpty else { throw PixyClientError.authorization("the response has no code") }
        return code
    }

    private func refresh(_ stale: StoredSession, server: DiscoveredServer, key: String) async throws -> StoredSession {
        guard let file = configuration.tokenFile else { return try await refreshHoldingLock(stale, server: server, key: key) }
        return try await file.whileLocked { try await self.refreshHoldingLock(stale, server: server, key: key) }
    }

    /// A refresh with the newest session there is: another process sharing the token file, or
    /// another request in this one, may have rotated the token meanwhile, and presenting the old
    /// one would be reuse, which revokes the whole family (RFC 9700 §4.14.2). A refresh token
    /// this process has sent once is never sent again.
    private func refreshHoldingLock(_ stale: StoredSession, server: DiscoveredServer, key: String) async throws -> StoredSession {
        var session = sessions[key].flatMap { $0.issuer == server.issuer ? $0 : nil } ?? stale
        if let latest = try await configuration.tokenFile?.session(for: key), latest.issuer == server.issuer,
            !spentRefreshTokens.contains(latest.refreshToken ?? "")
        {
            session = latest
            sessions[key] = latest
        }
        if session.refreshToken != stale.refreshToken, let expiresAt = session.expiresAt,
            expiresAt.timeIntervalSince(configuration.now()) >= configuration.refreshMargin
        {
            return session
        }
        guard let refreshToken = session.refreshToken, !spentRefreshTokens.contains(refreshToken) else {
            throw PixyClientError("invalid_grant", "the refresh token was already used")
        }
        spentRefreshTokens.insert(refreshToken)
        guard let tokenEndpoint = server.metadata.tokenEndpoint else { throw PixyClientError.token("no token_endpoint") }
        var form = [("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", session.clientID)]
        if let resource = server.resource { form.append(("resource", resource)) }
        let refreshed = try await tokenRequest(tokenEndpoint, form: form, server: server, clientID: session.clientID, previous: session)
        try await keep(refreshed, for: key)
        return refreshed
    }

    private func tokenRequest(
        _ endpoint: URL, form: [(String, String)], server: DiscoveredServer, clientID: String, previous: StoredSession?
    ) async throws -> StoredSession {
        let response = try await configuration.http.postForm(endpoint, form, headers: [("Accept", "application/json")])
        let json = response.jsonObject ?? [:]
        guard response.status == 200, let access = json["access_token"] as? String, !access.isEmpty else {
            let error = json["error"] as? String ?? "HTTP \(response.status)"
            let description = json["error_description"] as? String
            let message = "\(error)\(description.map { ": \($0)" } ?? "")"
            throw error == "invalid_grant" ? PixyClientError("invalid_grant", message) : PixyClientError.token(message)
        }
        guard (json["token_type"] as? String)?.lowercased() == "bearer" else {
            throw PixyClientError.token("token_type is \(json["token_type"] as? String ?? "missing"), not Bearer")
        }
        let expiresIn = (json["expires_in"] as? NSNumber)?.doubleValue
        return StoredSession(
            issuer: server.issuer, clientID: clientID, accessToken: access,
            // RFC 6749 §6: a response without a new refresh token leaves the old one valid.
            refreshToken: json["refresh_token"] as? String ?? previous?.refreshToken,
            expiresAt: expiresIn.map { configuration.now().addingTimeInterval($0) },
            scope: json["scope"] as? String ?? previous?.scope ?? "")
    }

    private func loopbackListener() async throws -> LoopbackRedirectListener {
        if let listener { return listener }
        let started = try await LoopbackRedirectListener.start()
        // Another sign-in may have started one while this one was binding: keep one only.
        if let listener {
            started.close()
            return listener
        }
        listener = started
        return started
    }

    private func clientID(at server: DiscoveredServer, redirectURI: URL) async throws -> String {
        let registration = configuration.registration
        if let clientID = registration.clientID { return clientID }
        if let document = registration.metadataDocument, server.metadata.clientIDMetadataDocumentSupported {
            return document.absoluteString
        }
        if let known = clients[server.issuer] { return known.clientID }
        if let stored = try await configuration.tokenFile?.client(for: server.issuer) {
            clients[server.issuer] = stored
            return stored.clientID
        }
        guard registration.allowsDynamicRegistration, let endpoint = server.metadata.registrationEndpoint else {
            throw PixyClientError.registration(
                "\(server.issuer) offers no way to register this client: no registration_endpoint, no Client ID Metadata Documents, and no client_id given"
            )
        }
        let id = try await configuration.http.registerPublicClient(
            at: endpoint, name: configuration.clientName, redirectURI: redirectURI)
        let client = StoredClient(clientID: id, redirectURI: redirectURI.absoluteString)
        clients[server.issuer] = client
        try await configuration.tokenFile?.setClient(client, for: server.issuer)
        return id
    }
}
