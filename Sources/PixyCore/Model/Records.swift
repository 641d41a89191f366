public import struct Foundation.Date
public import PixyModel

/// What an authorization code stands for (docs/security.md §3): stored under `auth:code:<sha256>`,
/// bound to client, redirect URI, challenge, scope, resource, user and issuer, carrying its own
/// absolute expiry so the server checks it even if the store's TTL did not fire.
public struct AuthorizationCodeRecord: Sendable, Codable, Equatable {
    /// The client the code was issued to.
    public var clientID: ClientID
    /// The redirect URI used at /authorize (exact string).
    public var redirectURI: String
    /// The S256 challenge; never optional, so a code without PKCE cannot exist (docs/security.md §2).
    public var codeChallenge: CodeChallenge
    /// The granted scope.
    public var scope: Scope
    /// The RFC 8707 resource, later the access token's `aud`.
    public var resource: String?
    /// The user (`sub`).
    public var subject: String
    /// The issuer that minted the code.
    public var issuer: String
    /// When the user authenticated.
    public var authTime: Date
    /// Absolute expiry.
    public var expiresAt: Date

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case redirectURI = "redirect_uri"
        case codeChallenge = "code_challenge"
        case scope, resource
        case subject = "sub"
        case issuer = "iss"
        case authTime = "auth_time"
        case expiresAt = "exp"
    }

    /// Creates a record.
    public init(
        clientID: ClientID, redirectURI: String, codeChallenge: CodeChallenge, scope: Scope, resource: String?,
        subject: String, issuer: String, authTime: Date, expiresAt: Date
    ) {
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.codeChallenge = codeChallenge
        self.scope = scope
        self.resource = resource
        self.subject = subject
        self.issuer = issuer
        self.authTime = authTime
        self.expiresAt = expiresAt
    }
}

/// A resource owner who logs in on the login page.
public struct User: Sendable, Codable, Equatable {
    /// Stable, random subject identifier (`sub`); never the username, so renaming changes nothing.
    public var id: String
    /// The login name.
    public var username: String
    /// bcrypt hash of the password.
    public var passwordHash: String
    /// When the user was created.
    public var createdAt: Date
    /// Bumped when the password changes: browser sessions signed in under an older value end.
    /// `nil` on records from before it existed, which counts as 0.
    public var sessionVersion: Int?

    /// Creates a user record.
    public init(id: String, username: String, passwordHash: String, createdAt: Date) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A signing key as kept in the store.
public struct SigningKeyRecord: Sendable, Codable, Equatable {
    /// Key id, published in JWKS and in each token's header.
    public var kid: String
    /// JWS algorithm, `ES256`.
    public var algorithm: String
    /// PKCS#8 PEM of the private key.
    public var privateKeyPEM: String
    /// When the key was created.
    public var createdAt: Date
    /// When the key stopped signing; it stays in JWKS until its tokens expire.
    public var retiredAt: Date?

    /// Creates a key record.
    public init(kid: String, algorithm: String, privateKeyPEM: String, createdAt: Date, retiredAt: Date? = nil) {
        self.kid = kid
        self.algorithm = algorithm
        self.privateKeyPEM = privateKeyPEM
        self.createdAt = createdAt
        self.retiredAt = retiredAt
    }
}

/// A browser session: who is logged in (if anyone) and the CSRF token bound to this browser.
/// Stored under the SHA-256 of the cookie value.
public struct BrowserSession: Sendable, Codable, Equatable {
    /// The CSRF token every POST from this browser must carry (docs/security.md §8).
    public var csrfToken: String
    /// The logged-in user's id, if any.
    public var userID: String?
    /// When the user logged in.
    public var authTime: Date?
    /// The user's ``User/sessionVersion`` at login: a password change since ends the session.
    public var userSessionVersion: Int?
    /// Absolute expiry.
    public var expiresAt: Date
    /// Authorization requests started in this session (a cap on unauthenticated state).
    public var pendingAuthorizations: Int?

    /// Creates a session.
    public init(csrfToken: String, userID: String? = nil, authTime: Date? = nil, expiresAt: Date) {
        self.csrfToken = csrfToken
        self.userID = userID
        self.authTime = authTime
        self.expiresAt = expiresAt
    }
}

/// An authorization request that passed validation and waits for login and consent. Kept
/// server-side, so tampering with hidden form fields changes nothing (docs/security.md §8).
public struct PendingAuthorization: Sendable, Codable, Equatable {
    /// The validated request.
    public var request: AuthorizationRequest
    /// The hash of the session cookie this transaction is bound to.
    public var sessionKey: String
    /// Absolute expiry.
    public var expiresAt: Date

    /// Creates a pending authorization.
    public init(request: AuthorizationRequest, sessionKey: String, expiresAt: Date) {
        self.request = request
        self.sessionKey = sessionKey
        self.expiresAt = expiresAt
    }
}
