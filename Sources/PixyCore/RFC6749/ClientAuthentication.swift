/// Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1; SECURITY.md §4).
public struct ClientAuthenticator: Sendable {
    private let clients: any ClientStore

    /// Creates an authenticator over the client store.
    public init(clients: any ClientStore) {
        self.clients = clients
    }

    /// Credentials as they arrived, already decoded by the HTTP layer.
    public struct Credentials: Sendable {
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
    }

    /// An authentication failure; `usedBasic` tells the HTTP layer to answer 401 with
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    public struct Failure: Error, Sendable {
        /// The OAuth error.
        public let error: OAuthError
        /// Whether the client tried HTTP Basic.
        public let usedBasic: Bool
    }

    /// The authenticated client.
    ///
    /// - More than one method in one request is `invalid_request` (RFC 6749 §2.3).
    /// - Unknown clients, wrong secrets, a public client sending a secret, a confidential client
    ///   sending none, or a method other than the registered one: `invalid_client`.
    public func authenticate(_ credentials: Credentials) async throws(Failure) -> Client {
        let usedBasic = credentials.basic != nil
        func fail(_ error: OAuthError) -> Failure { Failure(error: error, usedBasic: usedBasic) }

        if usedBasic, credentials.formClientSecret != nil {
            throw fail(.invalidRequest("Use one client authentication method per request."))
        }
        let presentedID: String
        let presentedSecret: String?
        let method: ClientAuthenticationMethod
        if let basic = credentials.basic {
            if let formID = credentials.formClientID, formID != basic.clientID {
                throw fail(.invalidRequest("client_id in the body does not match the Authorization header."))
            }
            presentedID = basic.clientID
            presentedSecret = basic.secret
            method = .clientSecretBasic
        } else if let formID = credentials.formClientID {
            presentedID = formID
            presentedSecret = credentials.formClientSecret
            method = presentedSecret == nil ? .none : .clientSecretPost
        } else {
            throw fail(.invalidClient("Client authentication failed: no client identified.", detail: "no client_id"))
        }

        let client: Client
        do {
            guard let found = try await clients.client(withID: ClientID(presentedID)) else {
                throw fail(.invalidClient(detail: "unknown client_id"))
            }
            client = found
        } catch let failure as Failure {
            throw failure
        } catch {
            throw fail(.storageFailure(error, while: "client lookup"))
        }

        switch client.tokenEndpointAuthMethod {
        case .none:
            // SECURITY.md §4: a public client that sends a secret is invalid_client.
            guard presentedSecret == nil else {
                throw fail(.invalidClient("This client is public and must not send a secret.", detail: "secret from public client"))
            }
        case .clientSecretBasic, .clientSecretPost:
            guard let presentedSecret else {
                throw fail(.invalidClient(detail: "confidential client without secret"))
            }
            // RFC 6749 §2.3.1: HTTP Basic MUST be supported for every client with a password, so a
            // client_secret_post client may use it too (Authlib revokes with Basic by default).
            // The reverse, a secret in the body for a Basic client, stays refused (NOT RECOMMENDED).
            let isAccepted = method == client.tokenEndpointAuthMethod || method == .clientSecretBasic
            guard isAccepted else {
                throw fail(.invalidClient("Use the client authentication method this client registered.",
                                          detail: "method \(method.rawValue), registered \(client.tokenEndpointAuthMethod.rawValue)"))
            }
            guard let storedHash = client.secretHash, SecretHash.matches(presentedSecret, storedHash: storedHash) else {
                throw fail(.invalidClient(detail: "wrong client secret"))
            }
        }
        return client
    }
}
