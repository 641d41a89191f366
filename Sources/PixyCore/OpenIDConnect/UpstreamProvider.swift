public import Foundation

/// An identity provider users sign in through (docs/federation.md). Pixy is the OAuth client of
/// the provider and stays the authorization server of its own clients: the provider's tokens
/// are used once to learn who the user is and are never passed on or stored.
public struct UpstreamProvider: Sendable, Equatable {
    /// How Pixy learns who signed in.
    public enum Kind: Sendable, Equatable {
        /// OpenID Connect: endpoints from the issuer's discovery document (OpenID Connect
        /// Discovery §4), identity from a verified ID token (OpenID Connect Core §3.1.3.7).
        case openIDConnect(issuer: String)
        /// Plain OAuth 2 (GitHub's shape): fixed endpoints, identity from the userinfo endpoint.
        case oauth2(OAuth2Endpoints)
    }

    /// The fixed endpoints and claim names of a plain OAuth 2 provider.
    public struct OAuth2Endpoints: Sendable, Equatable {
        /// Where the browser signs in (RFC 6749 §3.1).
        public var authorizationEndpoint: String
        /// Where the code is exchanged (RFC 6749 §3.2).
        public var tokenEndpoint: String
        /// Answers who owns the access token, as a JSON object.
        public var userinfoEndpoint: String
        /// The claim of the userinfo response that identifies the user for good (GitHub: `id`,
        /// never `login`, which its owner can change).
        public var subjectClaim: String
        /// The claim holding the e-mail address, if the provider sends one.
        public var emailClaim: String?
        /// The claim shown as the account's name (GitHub: `login`).
        public var nameClaim: String?

        /// Bundles the endpoints.
        public init(
            authorizationEndpoint: String, tokenEndpoint: String, userinfoEndpoint: String, subjectClaim: String,
            emailClaim: String? = nil, nameClaim: String? = nil
        ) {
            self.authorizationEndpoint = authorizationEndpoint
            self.tokenEndpoint = tokenEndpoint
            self.userinfoEndpoint = userinfoEndpoint
            self.subjectClaim = subjectClaim
            self.emailClaim = emailClaim
            self.nameClaim = nameClaim
        }
    }

    /// How Pixy authenticates to the provider's token endpoint (RFC 6749 §2.3.1).
    public enum ClientAuthentication: String, Sendable, Equatable, CaseIterable {
        /// HTTP Basic with the client id and secret, form-encoded first (RFC 6749 §2.3.1).
        case clientSecretBasic = "client_secret_basic"
        /// The secret in the form body.
        case clientSecretPost = "client_secret_post"
        /// A public client: PKCE only.
        case none
    }

    /// The provider's name in URLs and user records: lower-case letters, digits and `-`.
    public var id: String
    /// The name on the login page's button.
    public var displayName: String
    /// OpenID Connect or plain OAuth 2.
    public var kind: Kind
    /// Pixy's client id at the provider.
    public var clientID: String
    /// Pixy's client secret at the provider, if it is a confidential client there.
    public var clientSecret: String?
    /// How the secret is presented.
    public var clientAuthentication: ClientAuthentication
    /// The scopes asked of the provider.
    public var scopes: [String]
    /// The JWS algorithms an ID token may be signed with (OpenID Connect Core §3.1.3.7 step 7):
    /// asymmetric only, never `none` or an HMAC keyed with the client secret.
    public var allowedAlgorithms: Set<String>
    /// Who may sign in.
    public var access: UpstreamAccessRule

    /// The ID token algorithms accepted unless the operator narrows them.
    public static let defaultAlgorithms: Set<String> = ["RS256", "ES256"]
    /// Claims that name a user only until the user changes them, or someone else takes them over:
    /// never a subject (OpenID Connect Core §5.7).
    public static let changeableClaims: Set<String> = ["email", "login", "preferred_username", "name", "username", "nickname"]
    /// Every algorithm an operator may allow.
    public static let supportedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]

    /// Describes a provider.
    public init(
        id: String, displayName: String, kind: Kind, clientID: String, clientSecret: String?,
        clientAuthentication: ClientAuthentication, scopes: [String], allowedAlgorithms: Set<String> = defaultAlgorithms,
        access: UpstreamAccessRule
    ) {
        self.id = id
        self.displayName = displayName
        self.kind = kind
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.clientAuthentication = clientAuthentication
        self.scopes = scopes
        self.allowedAlgorithms = allowedAlgorithms
        self.access = access
    }

    /// Whether the provider speaks OpenID Connect.
    public var isOpenIDConnect: Bool {
        if case .openIDConnect = kind { return true }
        return false
    }

    /// The redirect URI registered at the provider: one per provider, so a response is only
    /// ever read as the provider it was addressed to (mix-up defence, RFC 9700 §4.4.2).
    public func redirectURI(issuer: String) -> String {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/upstream/\(id)/callback"
    }

    /// Why this description cannot be used, or `nil`.
    public func problem() -> String? {
        if id.isEmpty || id.count > 32 || !id.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }) {
            return "upstream provider id \"\(id)\" must be 1-32 lower-case letters, digits or '-'"
        }
        if clientID.isEmpty { return "upstream provider \(id): client_id is missing" }
        if clientAuthentication != .none && (clientSecret ?? "").isEmpty {
            return "upstream provider \(id): \(clientAuthentication.rawValue) needs a client secret"
        }
        let urls: [String]
        switch kind {
        case .openIDConnect(let issuer):
            urls = [issuer]
            if !scopes.contains("openid") { return "upstream provider \(id): an OpenID Connect provider needs the openid scope" }
            if allowedAlgorithms.isEmpty || !allowedAlgorithms.isSubset(of: Self.supportedAlgorithms) {
                return
                    "upstream provider \(id): allowed algorithms must be among \(Self.supportedAlgorithms.sorted().joined(separator: ", "))"
            }
        case .oauth2(let endpoints):
            urls = [endpoints.authorizationEndpoint, endpoints.tokenEndpoint, endpoints.userinfoEndpoint]
            if endpoints.subjectClaim.isEmpty { return "upstream provider \(id): subject_claim is missing" }
            if Self.changeableClaims.contains(endpoints.subjectClaim) {
                return
                    "upstream provider \(id): subject_claim \(endpoints.subjectClaim) can change or be reused; use the provider's stable user id (GitHub: id)"
            }
            if !access.allowedEmailDomains.isEmpty {
                return
                    "upstream provider \(id): a plain OAuth 2 provider does not say whether an address is verified; restrict it with claims or existing_users_only, not email_domains"
            }
        }
        for url in urls where !UpstreamURL.isAcceptable(url) {
            return "upstream provider \(id): \(url) must be an https URL (http only on loopback)"
        }
        return access.problem().map { "upstream provider \(id): \($0)" }
    }
}

/// Which URLs an upstream provider may use: https, or http on a loopback host (tests and local
/// providers), with no fragment (RFC 6749 §3.1).
public enum UpstreamURL {
    /// Whether `url` is acceptable.
    public static func isAcceptable(_ url: String) -> Bool {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty,
            components.fragment == nil
        else { return false }
        switch components.scheme?.lowercased() {
        case "https": return true
        case "http": return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1"
        default: return false
        }
    }
}

/// Who may sign in through a provider (docs/federation.md, "Who may sign in"). At least one
/// restriction must be chosen, or ``allowsAnyone`` said out loud: a provider such as Google
/// signs in everyone on earth.
public struct UpstreamAccessRule: Sendable, Equatable {
    /// E-mail domains whose (verified) addresses may sign in; empty: any, if another rule admits.
    public var allowedEmailDomains: [String]
    /// Claims the identity must hold (`name` → value; an array claim must contain the value).
    public var requiredClaims: [String: String]
    /// Whether a first sign-in creates the Pixy user; `false`: only users the operator created
    /// (`pixy users add --upstream`) may sign in.
    public var createsUsers: Bool
    /// The operator accepts every account of the provider.
    public var allowsAnyone: Bool

    /// Describes the rule.
    public init(
        allowedEmailDomains: [String] = [], requiredClaims: [String: String] = [:], createsUsers: Bool = true, allowsAnyone: Bool = false
    ) {
        self.allowedEmailDomains = allowedEmailDomains.map { $0.lowercased() }
        self.requiredClaims = requiredClaims
        self.createsUsers = createsUsers
        self.allowsAnyone = allowsAnyone
    }

    /// Why the rule cannot be used, or `nil`.
    func problem() -> String? {
        if allowedEmailDomains.isEmpty && requiredClaims.isEmpty && createsUsers && !allowsAnyone {
            return
                "say who may sign in: allowed e-mail domains, required claims, existing users only, or allow anyone (docs/federation.md)"
        }
        return nil
    }

    /// Whether `identity` (with the `claims` it came with) passes the domain and claim rules.
    /// A domain rule needs an address the provider says it verified (OpenID Connect Core §5.1
    /// `email_verified` true): anyone can type someone else's address into an account of their
    /// own at many providers, so an address alone proves nothing.
    public func admits(_ identity: UpstreamIdentity, claims: Claims) -> Bool {
        if !allowedEmailDomains.isEmpty {
            let verified = claims["email_verified"] == .bool(true) || claims["email_verified"] == .string("true")
            guard verified, let email = identity.email?.lowercased(),
                let at = email.lastIndex(of: "@"), allowedEmailDomains.contains(String(email[email.index(after: at)...]))
            else { return false }
        }
        for (name, value) in requiredClaims {
            guard let claim = claims[name], claim.holds(value) else { return false }
        }
        return true
    }
}

/// Who signed in at a provider: the provider's stable subject, and what to show.
public struct UpstreamIdentity: Sendable, Codable, Equatable {
    /// The provider's ``UpstreamProvider/id``.
    public var provider: String
    /// The provider's subject (`sub`, or the configured claim): the only thing an account is
    /// matched by, never the e-mail address (OpenID Connect Core §5.7).
    public var subject: String
    /// The e-mail address, if sent.
    public var email: String?
    /// A name to show (`preferred_username`, `name`, or the configured claim).
    public var name: String?
    /// Who vouched for the subject: the OpenID Connect issuer, or a plain OAuth 2 provider's
    /// userinfo endpoint. A subject is unique only within its issuer (OpenID Connect Core §5.7),
    /// so a provider id pointed at another issuer never reaches the users of the first. `nil`
    /// on a user the operator created, until the first sign-in.
    public var issuer: String?

    /// Describes an identity.
    public init(provider: String, subject: String, email: String?, name: String?, issuer: String? = nil) {
        self.provider = provider
        self.subject = subject
        self.email = email
        self.name = name
        self.issuer = issuer
    }

    /// Whether `other` is the same account: same provider and subject, and the same issuer once
    /// one is known.
    public func isSameAccount(as other: UpstreamIdentity) -> Bool {
        provider == other.provider && subject == other.subject && (issuer == nil || other.issuer == nil || issuer == other.issuer)
    }

    /// The Pixy username an upstream identity is stored under. Local usernames cannot start
    /// with `@` (``Username/problem(with:)``), and provider ids cannot contain `:`, so this name
    /// belongs to exactly one (provider, subject) pair; it is not lower-cased, since subjects are
    /// case-sensitive.
    public static func username(provider: String, subject: String) -> String { "@\(provider):\(subject)" }

    /// How the pages name the account.
    public var shownName: String { email ?? name ?? subject }
}

/// The endpoints of a provider, discovered or configured.
public struct UpstreamEndpoints: Sendable, Equatable {
    /// The issuer ID tokens must carry (OpenID Connect only).
    public var issuer: String?
    /// Where the browser signs in.
    public var authorizationEndpoint: String
    /// Where codes are exchanged.
    public var tokenEndpoint: String
    /// The provider's JWK Set (OpenID Connect only).
    public var jwksURI: String?
    /// The userinfo endpoint, if any.
    public var userinfoEndpoint: String?
    /// Whether the provider says it sends `iss` with every authorization response (RFC 9207 §3):
    /// then a response without it is refused.
    public var sendsIssuerParameter: Bool

    /// Bundles the endpoints.
    public init(
        issuer: String?, authorizationEndpoint: String, tokenEndpoint: String, jwksURI: String?, userinfoEndpoint: String?,
        sendsIssuerParameter: Bool
    ) {
        self.issuer = issuer
        self.authorizationEndpoint = authorizationEndpoint
        self.tokenEndpoint = tokenEndpoint
        self.jwksURI = jwksURI
        self.userinfoEndpoint = userinfoEndpoint
        self.sendsIssuerParameter = sendsIssuerParameter
    }

    /// The endpoints of `provider` from its discovery document, which must name exactly the
    /// configured issuer (OpenID Connect Discovery §4.3) and endpoints Pixy may call.
    public static func discovered(_ document: Claims, for provider: UpstreamProvider) throws(UpstreamFailure) -> UpstreamEndpoints {
        guard case .openIDConnect(let issuer) = provider.kind else {
            throw UpstreamFailure(.invalidResponse, "discovery is for OpenID Connect providers")
        }
        guard document["issuer"]?.string == issuer else {
            throw UpstreamFailure(.invalidResponse, "the discovery document names another issuer than \(issuer)")
        }
        // An https issuer's endpoints are https too: a document must not send the secret and the
        // code in the clear, even to a loopback address.
        let secure = issuer.lowercased().hasPrefix("https://")
        func acceptable(_ url: String) -> Bool { UpstreamURL.isAcceptable(url) && (!secure || url.lowercased().hasPrefix("https://")) }
        guard let authorization = document["authorization_endpoint"]?.string, acceptable(authorization),
            let token = document["token_endpoint"]?.string, acceptable(token),
            let jwks = document["jwks_uri"]?.string, acceptable(jwks)
        else {
            throw UpstreamFailure(.invalidResponse, "the discovery document lacks an acceptable authorization, token or jwks endpoint")
        }
        let userinfo = document["userinfo_endpoint"]?.string.flatMap { acceptable($0) ? $0 : nil }
        return UpstreamEndpoints(
            issuer: issuer, authorizationEndpoint: authorization, tokenEndpoint: token, jwksURI: jwks, userinfoEndpoint: userinfo,
            sendsIssuerParameter: document["authorization_response_iss_parameter_supported"] == .bool(true))
    }

    /// The configured endpoints of a plain OAuth 2 provider.
    public static func configured(_ endpoints: UpstreamProvider.OAuth2Endpoints) -> UpstreamEndpoints {
        UpstreamEndpoints(
            issuer: nil, authorizationEndpoint: endpoints.authorizationEndpoint, tokenEndpoint: endpoints.tokenEndpoint,
            jwksURI: nil, userinfoEndpoint: endpoints.userinfoEndpoint, sendsIssuerParameter: false)
    }
}

/// Why signing in through a provider failed, with a stable code for logs and tests.
public struct UpstreamFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// The provider could not be reached in time, or answered 5xx: try again later.
        case unreachable = "upstream_unreachable"
        /// The provider refused the exchange (RFC 6749 §5.2), e.g. an expired code.
        case rejected = "upstream_rejected"
        /// The provider answered something that is not what the protocol says.
        case invalidResponse = "upstream_invalid_response"
        /// The ID token failed a check of OpenID Connect Core §3.1.3.7.
        case invalidIDToken = "upstream_invalid_id_token"
    }

    /// The kind.
    public let code: Code
    /// For the log only; never shown with secrets (no token or code is ever put here).
    public let detail: String

    /// Creates a failure.
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// `code: detail`.
    public var description: String { "\(code.rawValue): \(detail)" }
}

/// The tokens a provider's token endpoint answered with (RFC 6749 §5.1). Used at once and
/// dropped: never stored, never passed to Pixy's own clients.
public struct UpstreamTokens: Sendable {
    /// The provider's access token (plain OAuth 2: for the userinfo request).
    public var accessToken: String
    /// The ID token (OpenID Connect Core §3.1.3.3).
    public var idToken: String?

    /// Bundles the tokens.
    public init(accessToken: String, idToken: String?) {
        self.accessToken = accessToken
        self.idToken = idToken
    }
}

/// The network half of upstream sign-in (PixyFederation implements it over HTTP): every call
/// has a deadline and none runs on the request executor. Every decision about what the
/// answers mean is PixyCore's.
public protocol UpstreamConnecting: Sendable {
    /// The provider's endpoints (discovered once and cached for OpenID Connect).
    func endpoints(of provider: UpstreamProvider) async throws(UpstreamFailure) -> UpstreamEndpoints
    /// Exchanges `code` with its PKCE verifier at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5).
    func exchange(
        code: String, verifier: String, redirectURI: String, provider: UpstreamProvider, endpoints: UpstreamEndpoints
    ) async throws(UpstreamFailure) -> UpstreamTokens
    /// The claims of `idToken` once its signature is verified with a key of the provider's JWK
    /// Set under one of `provider.allowedAlgorithms` (OpenID Connect Core §3.1.3.7 steps 6–8).
    /// The claims themselves are checked by ``IDTokenValidation``.
    func verifiedClaims(ofIDToken idToken: String, provider: UpstreamProvider, endpoints: UpstreamEndpoints)
        async throws(UpstreamFailure) -> Claims
    /// The userinfo response for `accessToken`, as a JSON object.
    func userinfo(accessToken: String, provider: UpstreamProvider, endpoints: UpstreamEndpoints) async throws(UpstreamFailure) -> Claims
}
