import Foundation

/// The introspection response (RFC 7662 §2.2). An inactive token is exactly `{"active":false}`.
public struct IntrospectionResponse: Sendable, Encodable, Equatable {
    /// Whether the token is active.
    public var active: Bool
    /// The remaining members, present only when active.
    public var claims: AccessTokenClaims?

    /// The inactive answer.
    public static let inactive = IntrospectionResponse(active: false, claims: nil)

    enum CodingKeys: String, CodingKey {
        case active, scope, sub, aud, iss, exp, iat, jti
        case clientID = "client_id"
        case tokenType = "token_type"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(active, forKey: .active)
        guard active, let claims else { return }
        if !claims.scope.isEmpty { try container.encode(claims.scope.description, forKey: .scope) }
        try container.encode(claims.clientID.rawValue, forKey: .clientID)
        try container.encode(claims.subject, forKey: .sub)
        try container.encode(claims.audience, forKey: .aud)
        try container.encode(claims.issuer, forKey: .iss)
        try container.encode(Int(claims.expiresAt.timeIntervalSince1970), forKey: .exp)
        try container.encode(Int(claims.issuedAt.timeIntervalSince1970), forKey: .iat)
        try container.encode(claims.tokenID, forKey: .jti)
        try container.encode("Bearer", forKey: .tokenType)
    }
}

/// The parameters of an introspection request (RFC 7662 §2.1), read once from the form.
public struct IntrospectionRequest: ClientAuthenticatedBody, Equatable {
    /// `token`: the token to look at.
    public var token: String?

    /// Creates a request.
    public init(token: String?) { self.token = token }

    /// Reads the introspection request's parameters from the form.
    public init(form: FormParameters) { self.init(token: form.values("token").first) }
}

/// `POST /introspect` (RFC 7662; docs/security.md §9).
public struct TokenIntrospection: Sendable {
    private let authenticator: ClientAuthenticator
    private let verifier: any AccessTokenVerifying
    private let tokenStatus: any TokenStatusStore
    private let clients: any ClientStore
    private let users: any UserStore
    private let clock: any WallClock

    /// Creates the endpoint logic.
    public init(
        clients: any ClientStore, users: any UserStore, verifier: any AccessTokenVerifying, tokenStatus: any TokenStatusStore,
        clock: any WallClock
    ) {
        authenticator = ClientAuthenticator(clients: clients)
        self.clients = clients
        self.users = users
        self.verifier = verifier
        self.tokenStatus = tokenStatus
        self.clock = clock
    }

    /// The caller must authenticate as a client the operator marked as a resource server
    /// (RFC 7662 §2.1, §4: the endpoint must not answer just anyone). Unknown, foreign, expired and
    /// revoked tokens are all inactive, and so are tokens of a user or client that was removed.
    public func handle(_ request: ClientAuthenticated<IntrospectionRequest>) async throws(OAuthError) -> IntrospectionResponse {
        let client = try await authenticator.authenticate(request.credentials)
        guard !client.isPublic else {
            throw .invalidClient("Introspection requires a confidential client.", detail: "public client at /introspect")
        }
        guard client.mayIntrospect else {
            throw OAuthError(
                .unauthorizedClient, "This client is not registered as a resource server.",
                detail: "client not marked as a resource server at /introspect")
        }
        guard let token = request.body.token else {
            throw .invalidRequest("The token parameter is missing.")
        }
        guard let claims = await verifier.verifiedClaims(of: token), claims.expiresAt > clock.now() else { return .inactive }
        do {
            if try await GrantRevocation.isRevoked(claims, tokenStatus: tokenStatus) { return .inactive }
            // Offboarding: a removed user's or client's tokens are no longer active anywhere.
            if try await users.user(withID: claims.subject) == nil { return .inactive }
            if try await clients.client(withID: claims.clientID) == nil { return .inactive }
        } catch {
            throw .storageFailure(error, while: "token status lookup")
        }
        return IntrospectionResponse(active: true, claims: claims)
    }
}
