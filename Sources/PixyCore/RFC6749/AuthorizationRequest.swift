public import PixyModel

/// An authorization request that passed every check of docs/security.md §1 and §2.
public struct AuthorizationRequest: Sendable, Codable, Equatable {
    /// The client.
    public var clientID: ClientID
    /// The redirect URI to send the response to: the one the request carried (which, for a
    /// loopback URI, may differ from the registered one in its port), or the single registered one.
    public var redirectURI: String
    /// Whether `redirect_uri` was in the request (then the token request must repeat it exactly).
    public var redirectURIWasSent: Bool
    /// The S256 challenge.
    public var codeChallenge: CodeChallenge
    /// The scope to grant.
    public var scope: Scope
    /// The RFC 8707 resource, if any.
    public var resource: String?
    /// The client's `state`, echoed unchanged.
    public var state: String?
    /// `prompt` values (OpenID Connect Core §3.1.2.1), honoured: `none`, `login`, `consent`.
    public var prompt: Set<Prompt>

    /// Supported `prompt` values.
    public enum Prompt: String, Sendable, Codable, CaseIterable {
        /// Never show a page; fail with `login_required` or `consent_required` instead.
        case none
        /// Ask for the password even with a live session.
        case login
        /// Show the consent page even for a client that may skip it.
        case consent
    }

    /// Creates a validated request.
    public init(
        clientID: ClientID, redirectURI: String, redirectURIWasSent: Bool, codeChallenge: CodeChallenge,
        scope: Scope, resource: String?, state: String?, prompt: Set<Prompt> = []
    ) {
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.redirectURIWasSent = redirectURIWasSent
        self.codeChallenge = codeChallenge
        self.scope = scope
        self.resource = resource
        self.state = state
        self.prompt = prompt
    }
}

/// Why an authorization request failed, and whether the failure may be sent to the client.
///
/// docs/security.md §1.3: until the client and its redirect URI are validated, an error is shown on
/// a page and never redirected; afterwards it goes to the redirect URI with `state` and `iss`.
public struct AuthorizationRequestError: Error, Sendable {
    /// The OAuth error.
    public let error: OAuthError
    /// Where to send it, or `nil` to show an error page.
    public let redirect: (uri: String, state: String?)?
    /// The client the request named, once it was found.
    public let client: Client?

    /// An error for the error page.
    public static func page(_ error: OAuthError, client: Client? = nil) -> AuthorizationRequestError {
        AuthorizationRequestError(error: error, redirect: nil, client: client)
    }

    /// An error for the client's redirect URI.
    public static func redirect(_ error: OAuthError, to uri: String, state: String?, client: Client? = nil) -> AuthorizationRequestError {
        AuthorizationRequestError(error: error, redirect: (uri, state), client: client)
    }
}

/// Whether an error may be redirected before anyone has signed in (RFC 9700 §4.11.2).
///
/// Anyone can register a client with any https redirect URI (RFC 7591) or publish a metadata
/// document, then send people to `/authorize` with a request that fails at once: an error
/// redirect would make Pixy's domain an open redirector to that URI. So for such clients an
/// error found before the user has signed in is shown on Pixy's own page, which names the
/// application's host and needs a click to continue. Clients the operator registered keep error
/// redirects (their redirect URIs were vetted by a person).
public enum ErrorRedirectPolicy {
    /// Whether an error for `client` may go straight to its redirect URI.
    public static func mayRedirect(for client: Client, userIsSignedIn: Bool) -> Bool {
        userIsSignedIn || (!client.isDynamicallyRegistered && !client.isMetadataDocument)
    }
}

/// Validates `GET /authorize` in the order docs/security.md §1 fixes.
public struct AuthorizationRequestValidator: Sendable {
    private let clients: any ClientStore
    private let policy: ServerPolicy

    /// Creates a validator over the client store.
    public init(clients: any ClientStore, policy: ServerPolicy) {
        self.clients = clients
        self.policy = policy
    }

    /// Validates `parameters` and returns the request to carry through login and consent.
    public func validate(_ parameters: FormParameters) async throws(AuthorizationRequestError) -> AuthorizationRequest {
        try await validateWithClient(parameters).request
    }

    /// Validates `parameters`; returns the request and the client it names, so callers need not
    /// look the client up a second time.
    public func validateWithClient(_ parameters: FormParameters) async throws(AuthorizationRequestError) -> (
        request: AuthorizationRequest, client: Client
    ) {
        // §1.1: client_id names a known client. Errors here go to a page, never to a URI.
        let clientIDValue: String
        do throws(OAuthError) {
            guard let value = try parameters.single("client_id") else {
                throw OAuthError.invalidRequest("The client_id parameter is missing.")
            }
            clientIDValue = value
        } catch { throw .page(error) }
        let client: Client
        do {
            guard let found = try await clients.client(withID: ClientID(clientIDValue)) else {
                throw OAuthError(
                    .invalidRequest, "The client_id does not name a registered client.",
                    detail: "unknown client_id")
            }
            client = found
        } catch let error as OAuthError {
            throw .page(error)
        } catch {
            throw .page(.storageFailure(error, while: "client lookup"))
        }

        // §1.2: redirect_uri matches a registered URI byte for byte (loopback: any port).
        let redirectURI: String
        let redirectURIWasSent: Bool
        do throws(OAuthError) {
            if let requested = try parameters.single("redirect_uri") {
                guard RedirectURIMatcher.match(requested: requested, in: client.redirectURIs) != nil else {
                    throw OAuthError.invalidRequest("The redirect_uri is not registered for this client.")
                }
                redirectURI = requested
                redirectURIWasSent = true
            } else if client.redirectURIs.count == 1 {
                redirectURI = client.redirectURIs[0]
                redirectURIWasSent = false
            } else {
                throw OAuthError.invalidRequest("The redirect_uri parameter is required for this client.")
            }
        } catch { throw .page(error) }

        // §1.3: from here on, errors go to the validated redirect URI with state.
        // `state` itself may be repeated; then it cannot be echoed, so it is dropped from the error.
        // An over-long `state` is not echoed either: it would be stored with the pending request.
        let state = parameters.values("state").count == 1 ? parameters.values("state").first : nil
        if let value = state, value.utf8.count > policy.maximumStateLength {
            throw .redirect(
                .invalidRequest("The state parameter is too long (at most \(policy.maximumStateLength) bytes)."),
                to: redirectURI, state: nil, client: client)
        }
        func fail(_ error: OAuthError) -> AuthorizationRequestError {
            .redirect(error, to: redirectURI, state: state, client: client)
        }

        // §1.4: any repeated parameter is invalid_request. RFC 8707 allows several `resource`
        // values; Pixy issues one audience per token, so that case is `invalid_target` below.
        do { try parameters.rejectRepeats(allowing: ["resource"]) } catch { throw fail(error) }

        // RFC 6749 §4.1.1: response_type=code; nothing else is supported (OAuth 2.1 drops implicit).
        guard let responseType = parameters.values("response_type").first else {
            throw fail(.invalidRequest("The response_type parameter is missing."))
        }
        guard responseType == "code" else {
            throw fail(OAuthError(.unsupportedResponseType, "Only response_type=code is supported."))
        }
        guard client.grantTypes.contains(.authorizationCode) else {
            throw fail(OAuthError(.unauthorizedClient, "This client may not use the authorization code grant."))
        }
        if let mode = parameters.values("response_mode").first, mode != "query" {
            throw fail(.invalidRequest("Only response_mode=query is supported."))
        }
        if !parameters.values("request").isEmpty || !parameters.values("request_uri").isEmpty {
            throw fail(.invalidRequest("Request objects are not supported."))
        }

        // docs/security.md §2 / RFC 7636 §4.4.1: PKCE with S256 for every client.
        let challenge: CodeChallenge
        do {
            challenge = try PKCEPolicy.challenge(
                value: parameters.values("code_challenge").first,
                method: parameters.values("code_challenge_method").first)
        } catch { throw fail(error) }

        // RFC 6749 §3.3: scope.
        let scope: Scope
        do { scope = try resolveScope(parameters.values("scope").first, for: client) } catch { throw fail(error) }

        // RFC 8707 §2: one resource, absolute, no fragment.
        let resources = parameters.values("resource")
        var resource: String?
        if resources.count > 1 {
            throw fail(.invalidTarget("Pixy issues tokens for one resource per request."))
        } else if let value = resources.first {
            do { resource = try ResourceIndicator.validate(value) } catch { throw fail(error) }
        }

        // OpenID Connect Core §3.1.2.1 prompt, honoured so MCP clients' `prompt=consent` works.
        var prompt = Set<AuthorizationRequest.Prompt>()
        if let value = parameters.values("prompt").first {
            for word in value.split(separator: " ") {
                guard let known = AuthorizationRequest.Prompt(rawValue: String(word)) else {
                    throw fail(.invalidRequest("The prompt value is not supported."))
                }
                prompt.insert(known)
            }
            if prompt.contains(.none), prompt.count > 1 {
                throw fail(.invalidRequest("prompt=none cannot be combined with other values."))
            }
        }

        let request = AuthorizationRequest(
            clientID: client.clientID, redirectURI: redirectURI, redirectURIWasSent: redirectURIWasSent,
            codeChallenge: challenge, scope: scope, resource: resource, state: state, prompt: prompt)
        return (request, client)
    }

    /// The scope to grant: the requested one if every token is supported and allowed for the
    /// client; otherwise `invalid_scope`. Without a request, the client's registered scope or the
    /// server default (RFC 6749 §3.3), and `invalid_scope` when there is neither.
    ///
    /// The registered scope bounds requests only for operator-registered clients. A dynamically
    /// registered or metadata-document client chose its own `scope` (anyone may register anything),
    /// so as a ceiling it protects nothing, and it breaks MCP step-up: clients register with the
    /// scope of the first challenge and later ask for more. Their users see every scope on the
    /// consent page anyway.
    func resolveScope(_ requested: String?, for client: Client) throws(OAuthError) -> Scope {
        guard let requested else {
            // RFC 6749 §3.3: a pre-defined default, or invalid_scope. An empty grant is never
            // useful: every resource server would refuse its token.
            let fallback = client.scope.flatMap { $0.isEmpty ? nil : $0 } ?? policy.defaultScope
            guard !fallback.isEmpty else {
                throw .invalidScope("The request names no scope and there is no default; ask for one of: \(policy.scopesSupported).")
            }
            return fallback
        }
        guard let scope = Scope(parsing: requested) else {
            throw .invalidScope("The scope parameter is malformed.")
        }
        let unsupported = scope.tokens(notIn: policy.scopesSupported)
        guard unsupported.isEmpty else {
            throw .invalidScope("The requested scope is not supported: \(unsupported.joined(separator: " ")).")
        }
        if let allowed = client.scope, !client.isDynamicallyRegistered, !client.isMetadataDocument, !scope.isSubset(of: allowed) {
            throw .invalidScope("The requested scope exceeds what this client registered.")
        }
        return scope
    }
}
