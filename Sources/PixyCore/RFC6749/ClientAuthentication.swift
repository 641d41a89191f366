/// The client credentials a request presented, decoded once by the transport (RFC 6749 §2.3).
public struct ClientCredentials: Sendable {
    /// From `Authorization: Basic`, after base64 and form-urlencoded decoding (RFC 6749 §2.3.1).
    public var basic: (clientID: String, secret: String)?
    /// `client_id` from the body.
    public var formClientID: String?
    /// `client_secret` from the body.
    public var formClientSecret: String?

    /// Bundles credentials.
    public init(basic: (clientID: String, secret: String)? = nil, formClientID: String? = nil, formClientSecret: String? = nil) {
        self.basic = basic
        self.formClientID = formClientID
        self.formClientSecret = formClientSecret
    }

    /// Whether the client tried HTTP Basic: an `invalid_client` answer then carries
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    public var usedBasic: Bool { basic != nil }
}

/// A body one of the client-authenticated endpoints reads from its form (`/token`, `/revoke`,
/// `/introspect`): the named parameters, nothing else.
public protocol ClientAuthenticatedBody: Sendable {
    /// Reads the body's parameters from a form already checked for repeats.
    init(form: FormParameters)
}

/// A request to an endpoint where the client authenticates (RFC 6749 §2.3, §3.2.1): the
/// credentials, decoded once, and the typed body.
public struct ClientAuthenticated<Body: ClientAuthenticatedBody>: Sendable {
    /// The credentials, from the header and the form.
    public var credentials: ClientCredentials
    /// The endpoint's own parameters.
    public var body: Body

    /// Bundles a request.
    public init(credentials: ClientCredentials, body: Body) {
        self.credentials = credentials
        self.body = body
    }

    /// Decodes a form body and the Basic credentials sent beside it. A parameter sent twice is
    /// `invalid_request` (RFC 6749 §3.2), checked here once for every such endpoint.
    public init(form: FormParameters, basic: (clientID: String, secret: String)?) throws(OAuthError) {
        try form.rejectRepeats()
        self.init(
            credentials: ClientCredentials(
                basic: basic, formClientID: form.values("client_id").first,
                formClientSecret: form.values("client_secret").first),
            body: Body(form: form))
    }
}

/// Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3,
/// §3.2.1; docs/security.md §4).
public struct ClientAuthenticator: Sendable {
    private let clients: any ClientStore

    /// Creates an authenticator over the client store.
    public init(clients: any ClientStore) {
        self.clients = clients
    }

    /// The authenticated client.
    ///
    /// - More than one method in one request is `invalid_request` (RFC 6749 §2.3).
    /// - Unknown clients, wrong secrets, a public client sending a secret, a confidential client
    ///   sending none, or a method other than the registered one: `invalid_client`.
    public func authenticate(_ credentials: ClientCredentials) async throws(OAuthError) -> Client {
        if credentials.usedBasic, credentials.formClientSecret != nil {
            throw .invalidRequest("Use one client authentication method per request.")
        }
        let presentedID: String
        let presentedSecret: String?
        let method: ClientAuthenticationMethod
        if let basic = credentials.basic {
            if let formID = credentials.formClientID, formID != basic.clientID {
                throw .invalidRequest("client_id in the body does not match the Authorization header.")
            }
            presentedID = basic.clientID
            presentedSecret = basic.secret
            method = .clientSecretBasic
        } else if let formID = credentials.formClientID {
            presentedID = formID
            presentedSecret = credentials.formClientSecret
            method = presentedSecret == nil ? .none : .clientSecretPost
        } else {
            throw .invalidClient("Client authentication failed: no client identified.", detail: "no client_id")
        }

        let found: Client?
        do { found = try await clients.client(withID: ClientID(presentedID)) } catch {
            throw .storageFailure(error, while: "client lookup")
        }
        guard let client = found else { throw .invalidClient(detail: "unknown client_id") }

        switch client.tokenEndpointAuthMethod {
        case .none:
            // docs/security.md §4: a public client that sends a secret is invalid_client.
            guard presentedSecret == nil else {
                throw .invalidClient("This client is public and must not send a secret.", detail: "secret from public client")
            }
        case .clientSecretBasic, .clientSecretPost:
            guard let presentedSecret else {
                throw .invalidClient(detail: "confidential client without secret")
            }
            // RFC 6749 §2.3.1: HTTP Basic MUST be supported for every client with a password, so a
            // client_secret_post client may use it too (Authlib revokes with Basic by default).
            // The reverse, a secret in the body for a Basic client, stays refused (NOT RECOMMENDED).
            let isAccepted = method == client.tokenEndpointAuthMethod || method == .clientSecretBasic
            guard isAccepted else {
                throw .invalidClient(
                    "Use the client authentication method this client registered.",
                    detail: "method \(method.rawValue), registered \(client.tokenEndpointAuthMethod.rawValue)")
            }
            guard let storedHash = client.secretHash, SecretHash.matches(presentedSecret, storedHash: storedHash) else {
                throw .invalidClient(detail: "wrong client secret")
            }
        }
        return client
    }
}
