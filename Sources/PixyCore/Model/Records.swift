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
    /// For a user who signs in through an upstream provider: who they are there. Such a user
    /// has no password (``passwordHash`` is empty) and the password form never signs them in.
    public var upstream: UpstreamIdentity?

    /// Creates a user record.
    public init(id: String, username: String, passwordHash: String, createdAt: Date) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }

    /// How the user signs in, as `pixy users list` shows it: `password`, or the provider's id.
    public var signInMethod: String { upstream.map { "upstream:\($0.provider)" } ?? "password" }
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
    /// Set on the copy kept under an upstream `state` while the user signs in at a provider.
    public var upstream: UpstreamSignInAttempt?

    /// Creates a pending authorization.
    public init(request: AuthorizationRequest, sessionKey: String, expiresAt: Date) {
        self.request = request
        self.sessionKey = sessionKey
        self.expiresAt = expiresAt
    }
}

/// A sign-in at an upstream provider in flight (OpenID Connect Core §3.1.2.1): kept on a copy
/// of the waiting request stored under the hash of the `state` sent to the provider, so the
/// callback finds it, bound to the browser session, at most once.
public struct UpstreamSignInAttempt: Sendable, Codable, Equatable {
    /// The provider the browser was sent to: a response arriving at another provider's
    /// callback is refused (mix-up, RFC 9700 §4.4).
    public var provider: String
    /// The waiting request the sign-in continues.
    public var transactionID: String
    /// The PKCE verifier of the request sent to the provider (RFC 7636 §4.1).
    public var codeVerifier: String
    /// The `nonce` the ID token must carry (OpenID Connect Core §3.1.2.1).
    public var nonce: String
    /// When the browser was sent to the provider: with `prompt=login`, the provider's
    /// `auth_time` must not be earlier.
    public var startedAt: Date

    /// Describes an attempt.
    public init(provider: String, transactionID: String, codeVerifier: String, nonce: String, startedAt: Date) {
        self.provider = provider
        self.transactionID = transactionID
        self.codeVerifier = codeVerifier
        self.nonce = nonce
        self.startedAt = startedAt
    }
}
