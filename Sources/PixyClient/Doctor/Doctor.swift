public import Foundation
import PixyModel

/// `pixy doctor`: examines an MCP server (or an authorization server) the way ChatGPT, Claude
/// and other MCP clients will, and says for each thing they need whether it is there, with a
/// one-line fix when it is not. The checks follow the MCP authorization specification
/// (docs/client.md lists each one with its source). With a login it also runs a real flow and
/// probes enforcement: `plain`, a missing challenge, a wrong verifier, code replay, a token for
/// another resource, refresh rotation and `iss`.
public struct Doctor: Sendable {
    /// The client whose needs the verdicts follow.
    public enum Profile: String, Sendable, CaseIterable {
        /// ChatGPT connectors: public clients, registered dynamically or by metadata document.
        case chatgpt
        /// Claude connectors: the same needs as ChatGPT.
        case claude
        /// Any MCP client: what only some clients need is a warning.
        case generic

        var needsSelfRegistration: Bool { self != .generic }
    }

    /// How to sign in for the enforcement probes.
    public struct Login: Sendable {
        /// Who completes authorization requests.
        public var agent: @Sendable (_ authorizationURL: URL, _ redirectURI: URL) async throws -> PixyFormSignIn.Outcome
        /// A `client_id` registered beforehand; nil registers one dynamically.
        public var clientID: String?
        /// The redirect URI registered for `clientID`; nil uses a loopback listener's.
        public var redirectURI: URL?

        /// A login through `agent`.
        public init(
            clientID: String? = nil, redirectURI: URL? = nil,
            agent: @escaping @Sendable (_ authorizationURL: URL, _ redirectURI: URL) async throws -> PixyFormSignIn.Outcome
        ) {
            self.agent = agent
            self.clientID = clientID
            self.redirectURI = redirectURI
        }

        /// Signs in through Pixy's login form with a username and password.
        public static func password(
            username: String, password: String, http: any ClientHTTP, clientID: String? = nil, redirectURI: URL? = nil
        )
            -> Login
        {
            let form = PixyFormSignIn(username: username, password: password, http: http)
            return Login(clientID: clientID, redirectURI: redirectURI) { url, redirect in try await form.follow(url, until: redirect) }
        }

        /// Follows authorization requests without signing in: for servers that approve without
        /// a person, or with a session `cookie` made elsewhere.
        public static func unattended(cookie: String?, http: any ClientHTTP, clientID: String? = nil, redirectURI: URL? = nil) -> Login {
            let agent = PixyFormSignIn(cookie: cookie, http: http)
            return Login(clientID: clientID, redirectURI: redirectURI) { url, redirect in try await agent.follow(url, until: redirect) }
        }

        /// Signs in through a person's browser: `open` shows each authorization URL, and the
        /// response comes back to `listener`. A request the server refuses with a page instead
        /// of a redirect never comes back, so each waits at most `timeout`.
        public static func browser(
            listener: LoopbackRedirectListener, clientID: String? = nil, timeout: Duration = .seconds(120),
            open: @escaping @Sendable (URL) async throws -> Void
        ) -> Login {
            Login(clientID: clientID, redirectURI: listener.redirectURI) { url, _ in
                let state = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.first { $0.name == "state" }?.value ?? ""
                let pending = listener.expectResponse(state: state)
                try await open(url)
                return try await withThrowingTaskGroup(of: PixyFormSignIn.Outcome.self) { group in
                    group.addTask { .redirect(try await pending.url) }
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        return .page(status: 0, text: "no redirect within \(timeout)")
                    }
                    let first = try await group.next()!
                    group.cancelAll()
                    pending.cancel()
                    return first
                }
            }
        }
    }

    /// The profile.
    public var profile: Profile
    /// The login for enforcement probes; nil runs only the metadata checks.
    public var login: Login?
    /// Endpoints to use when the server publishes no metadata.
    public var endpoints: (authorization: URL, token: URL)?
    /// The scope to ask for in the probes; nil asks for none.
    public var scope: String?
    /// The HTTP client.
    public var http: any ClientHTTP

    /// A doctor.
    public init(
        profile: Profile = .generic, login: Login? = nil, endpoints: (authorization: URL, token: URL)? = nil, scope: String? = nil,
        http: any ClientHTTP
    ) {
        self.profile = profile
        self.scope = scope
        self.login = login
        self.endpoints = endpoints
        self.http = http
    }

    /// Examines `url` and returns every finding.
    public func examine(_ url: URL) async -> DoctorReport {
        var report = Findings()
        await examine(url, into: &report)
        return DoctorReport(url: url.absoluteString, profile: profile.rawValue, checks: report.checks)
    }

    struct Findings {
        var checks: [DoctorCheck] = []
        mutating func add(_ id: String, _ title: String, _ verdict: DoctorCheck.Verdict, _ detail: String, fix: String? = nil) {
            checks.append(DoctorCheck(id: id, title: title, verdict: verdict, detail: detail, fix: fix))
        }
    }

    static func isSecure(_ url: URL) -> Bool { SecureTransport.allows(url) }

    private func examine(_ url: URL, into report: inout Findings) async {
        let discovery = Discovery(http: http, secureOnly: false)
        report.add(
            "transport.https", "https (or loopback http)", Self.isSecure(url) ? .pass : .fail, url.absoluteString,
            fix: "serve the MCP server over https; only loopback may use http (OAuth 2.1 §1.5)")

        // The resource: its 401, its metadata.
        let challenge: BearerChallenge?
        do {
            challenge = try await discovery.unauthenticatedChallenge(url)
        } catch {
            report.add("reachable", "server reachable", .fail, "\(error)", fix: "check the URL and that the server is running")
            return
        }
        let prm: (ProtectedResourceMetadata, URL)?
        do {
            prm = try await discovery.protectedResourceMetadata(for: url, challenge: challenge)
        } catch {
            prm = nil
        }
        var resource: String?
        var issuerString: String
        if let challenge {
            report.add("resource.challenge", "401 with a Bearer challenge", .pass, "WWW-Authenticate: Bearer \(challenge.summary)")
            if let pointer = challenge.resourceMetadata {
                let found = prm?.1.absoluteString == pointer
                report.add(
                    "resource.resource_metadata", "resource_metadata in the challenge", found ? .pass : .fail,
                    found ? pointer : "\(pointer) does not serve Protected Resource Metadata",
                    fix: "make resource_metadata point at the JSON document of RFC 9728 §2")
            } else {
                report.add(
                    "resource.resource_metadata", "resource_metadata in the challenge", .warn, "the challenge has no resource_metadata",
                    fix: "add resource_metadata=\"<url of your Protected Resource Metadata>\" to WWW-Authenticate (RFC 9728 §5.1)")
            }
        }
        if let (metadata, metadataURL) = prm {
            if challenge == nil {
                report.add(
                    "resource.challenge", "401 with a Bearer challenge", .fail,
                    "a request without a token was not answered 401 with WWW-Authenticate: Bearer",
                    fix: "answer unauthenticated MCP requests with 401 and WWW-Authenticate: Bearer resource_metadata=\"…\" (RFC 9728 §5.1)"
                )
            }
            report.add("prm.found", "Protected Resource Metadata", .pass, metadataURL.absoluteString)
            let exact = metadata.resource == url.absoluteString
            report.add(
                "prm.resource", "resource equals the URL", exact ? .pass : .fail,
                exact
                    ? url.absoluteString
                    : "resource is \(metadata.resource.map { "\"\($0)\"" } ?? "missing"), the URL is \(url.absoluteString)",
                fix: "set resource in the Protected Resource Metadata to exactly \(url.absoluteString) (RFC 9728 §3.3)")
            guard let first = metadata.authorizationServers.first else {
                report.add(
                    "prm.authorization_servers", "authorization_servers", .fail, "none listed",
                    fix: "list your issuer in authorization_servers (RFC 9728 §2)")
                return
            }
            report.add("prm.authorization_servers", "authorization_servers", .pass, metadata.authorizationServers.joined(separator: ", "))
            await checkCORS(metadataURL, id: "prm.cors", title: "CORS on the resource metadata", into: &report)
            resource = metadata.resource ?? url.absoluteString
            issuerString = first
        } else if challenge != nil {
            report.add(
                "prm.found", "Protected Resource Metadata", .fail,
                "neither resource_metadata nor \(WellKnown.protectedResourceMetadataURLs(for: url).map(\.absoluteString).joined(separator: " or ")) serves it",
                fix: "serve RFC 9728 metadata at /.well-known/oauth-protected-resource\(url.path) naming your issuer")
            return
        } else {
            report.add(
                "target", "what the URL is", .pass, "no 401 and no Protected Resource Metadata: examined as an authorization server")
            issuerString = url.absoluteString
        }

        // The authorization server's metadata.
        guard let issuer = URL(string: issuerString) else {
            report.add("as.issuer", "issuer", .fail, "\(issuerString) is not a URL", fix: "list the issuer's URL in authorization_servers")
            return
        }
        var metadata: AuthorizationServerMetadata?
        var found: URL?
        var tried: [String] = []
        for candidate in WellKnown.authorizationServerMetadataURLs(for: issuer) {
            tried.append(candidate.absoluteString)
            guard let response = try? await http.get(candidate, headers: [("Accept", "application/json")]), response.status == 200,
                let document = AuthorizationServerMetadata(json: response.body)
            else { continue }
            metadata = document
            found = candidate
            break
        }
        if let found, let document = metadata {
            report.add("as.metadata", "authorization server metadata", .pass, found.absoluteString)
            let exact = document.issuer == issuerString
            report.add(
                "as.issuer", "issuer equals the identifier looked up", exact ? .pass : .fail,
                exact ? issuerString : "issuer is \(document.issuer.map { "\"\($0)\"" } ?? "missing"), looked up \(issuerString)",
                fix: "make issuer in the metadata exactly \(issuerString), or list that value in authorization_servers (RFC 8414 §3.3)")
            await checkCORS(found, id: "as.cors", title: "CORS on the authorization server metadata", into: &report)
        } else {
            report.add(
                "as.metadata", "authorization server metadata", .fail, "none at \(tried.joined(separator: ", "))",
                fix: "serve RFC 8414 metadata at \(tried.first ?? "/.well-known/oauth-authorization-server")")
            guard let endpoints else { return }
            metadata = AuthorizationServerMetadata(
                issuer: nil, authorizationEndpoint: endpoints.authorization, tokenEndpoint: endpoints.token)
        }
        guard var metadata else { return }
        if found != nil { checkMetadata(metadata, into: &report) }
        if let endpoints, found == nil {
            metadata.authorizationEndpoint = endpoints.authorization
            metadata.tokenEndpoint = endpoints.token
        }
        guard let login, metadata.authorizationEndpoint != nil, metadata.tokenEndpoint != nil else { return }
        // Credentials, codes and tokens go nowhere in the clear.
        let insecure = report.checks.filter { ["transport.https", "as.https"].contains($0.id) && $0.verdict == .fail }
        if !insecure.isEmpty || !SecureTransport.allows(metadata.authorizationEndpoint!) || !SecureTransport.allows(metadata.tokenEndpoint!)
        {
            report.add(
                "login.flow", "a full sign-in", .fail, "not attempted: it would send a password, codes and tokens over plain http",
                fix: "serve every endpoint over https (OAuth 2.1 §1.5), then run the doctor again")
            return
        }
        let challenged = challenge.map { $0.scope.joined(separator: " ") }.flatMap { $0.isEmpty ? nil : $0 }
        await Probes(
            doctor: self, login: login, url: url, resource: resource, issuer: issuerString, metadata: metadata,
            scope: scope ?? challenged
        )
        .run(into: &report)
    }

    private func checkMetadata(_ metadata: AuthorizationServerMetadata, into report: inout Findings) {
        let endpoints = [metadata.authorizationEndpoint, metadata.tokenEndpoint]
        report.add(
            "as.endpoints", "authorization and token endpoints", endpoints.contains(nil) ? .fail : .pass,
            endpoints.contains(nil) ? "authorization_endpoint or token_endpoint is missing" : "both present",
            fix: "publish authorization_endpoint and token_endpoint (RFC 8414 §2)")
        let issuer = metadata.issuer.flatMap(URL.init(string:))
        let insecure = ([issuer, metadata.authorizationEndpoint, metadata.tokenEndpoint, metadata.registrationEndpoint].compactMap { $0 })
            .filter { !Self.isSecure($0) }
        report.add(
            "as.https", "https endpoints", insecure.isEmpty ? .pass : .fail,
            insecure.isEmpty ? "every endpoint is https or loopback" : insecure.map(\.absoluteString).joined(separator: ", "),
            fix: "serve every endpoint over https (OAuth 2.1 §1.5)")
        let s256 = metadata.codeChallengeMethodsSupported.contains("S256")
        report.add(
            "as.pkce_s256", "S256 in code_challenge_methods_supported", s256 ? .pass : .fail,
            metadata.codeChallengeMethodsSupported.isEmpty
                ? "code_challenge_methods_supported is missing" : metadata.codeChallengeMethodsSupported.joined(separator: ", "),
            fix: "support PKCE S256 and list it in code_challenge_methods_supported; MCP clients refuse servers that do not (RFC 7636 §4.2)"
        )
        if metadata.codeChallengeMethodsSupported.contains("plain") {
            report.add(
                "as.pkce_plain", "plain not offered", .warn, "code_challenge_methods_supported lists plain",
                fix: "offer S256 only: plain does not protect a code seen in transit (OAuth 2.1 §4.1.1)")
        }
        let none = metadata.tokenEndpointAuthMethodsSupported.contains("none")
        report.add(
            "as.public_clients", "public clients (token_endpoint_auth_method none)",
            none ? .pass : (profile.needsSelfRegistration ? .fail : .warn),
            metadata.tokenEndpointAuthMethodsSupported.joined(separator: ", "),
            fix: "accept public clients with PKCE: add none to token_endpoint_auth_methods_supported")
        let registration =
            metadata.registrationEndpoint.map { "dynamic registration at \($0.absoluteString)" }
            ?? (metadata.clientIDMetadataDocumentSupported ? "Client ID Metadata Documents" : nil)
        report.add(
            "as.registration", "a way for clients to register",
            registration != nil ? .pass : (profile.needsSelfRegistration ? .fail : .warn),
            registration ?? "no registration_endpoint and no client_id_metadata_document_supported",
            fix:
                "offer dynamic client registration (RFC 7591) or Client ID Metadata Documents; \(profile.rawValue) cannot be pre-registered"
        )
        report.add(
            "as.iss_parameter", "iss in authorization responses", metadata.issParameterSupported ? .pass : .warn,
            metadata.issParameterSupported
                ? "authorization_response_iss_parameter_supported is true" : "authorization_response_iss_parameter_supported is not true",
            fix: "return iss with every authorization response and advertise it (RFC 9207 §3)")
        let refresh = metadata.grantTypesSupported.contains("refresh_token")
        report.add(
            "as.refresh", "refresh_token grant", refresh ? .pass : .warn, metadata.grantTypesSupported.joined(separator: ", "),
            fix: "offer refresh tokens (rotated for public clients) so users need not sign in again (OAuth 2.1 §4.3)")
    }

    private func checkCORS(_ url: URL, id: String, title: String, into report: inout Findings) async {
        let response = try? await http.get(url, headers: [("Origin", "https://client.example"), ("Accept", "application/json")])
        let allowed = response?.header("Access-Control-Allow-Origin")
        let ok = allowed == "*" || allowed == "https://client.example"
        report.add(
            id, title, ok ? .pass : .warn, ok ? "Access-Control-Allow-Origin: \(allowed ?? "")" : "no Access-Control-Allow-Origin",
            fix: "answer metadata requests with Access-Control-Allow-Origin: * so browser-based clients can read them")
    }
}

extension BearerChallenge {
    var summary: String { parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ", ") }
}
