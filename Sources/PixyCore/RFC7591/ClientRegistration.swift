public import struct Foundation.Date
import Foundation
public import PixyModel

/// Client metadata as sent to `POST /register` (RFC 7591 §2). Unknown fields are ignored;
/// server-assigned fields (`client_id`, `client_secret`, …) are not even decoded (docs/security.md §7).
public struct ClientMetadataRequest: Sendable, Decodable {
    /// `redirect_uris`.
    public var redirectURIs: [String]?
    /// `token_endpoint_auth_method`.
    public var tokenEndpointAuthMethod: String?
    /// `grant_types`.
    public var grantTypes: [String]?
    /// `response_types`.
    public var responseTypes: [String]?
    /// `client_name`.
    public var clientName: String?
    /// `client_uri`.
    public var clientURI: String?
    /// `scope`.
    public var scope: String?
    /// `software_id`.
    public var softwareID: String?
    /// `software_version`.
    public var softwareVersion: String?

    enum CodingKeys: String, CodingKey {
        case redirectURIs = "redirect_uris"
        case tokenEndpointAuthMethod = "token_endpoint_auth_method"
        case grantTypes = "grant_types"
        case responseTypes = "response_types"
        case clientName = "client_name"
        case clientURI = "client_uri"
        case scope
        case softwareID = "software_id"
        case softwareVersion = "software_version"
    }

    /// Creates metadata.
    public init(
        redirectURIs: [String]? = nil, tokenEndpointAuthMethod: String? = nil, grantTypes: [String]? = nil,
        responseTypes: [String]? = nil, clientName: String? = nil, clientURI: String? = nil, scope: String? = nil,
        softwareID: String? = nil, softwareVersion: String? = nil
    ) {
        self.redirectURIs = redirectURIs
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.grantTypes = grantTypes
        self.responseTypes = responseTypes
        self.clientName = clientName
        self.clientURI = clientURI
        self.scope = scope
        self.softwareID = softwareID
        self.softwareVersion = softwareVersion
    }
}

/// The registration response (RFC 7591 §3.2.1).
public struct ClientRegistrationResponse: Sendable, Encodable, Equatable {
    /// `client_id`.
    public var clientID: String
    /// `client_secret`, shown once, only to confidential clients.
    public var clientSecret: String?
    /// `client_id_issued_at`.
    public var clientIDIssuedAt: Int
    /// `client_secret_expires_at`: 0 = never, present whenever a secret is.
    public var clientSecretExpiresAt: Int?
    /// `redirect_uris`.
    public var redirectURIs: [String]
    /// `token_endpoint_auth_method`.
    public var tokenEndpointAuthMethod: String
    /// `grant_types`.
    public var grantTypes: [String]
    /// `response_types`.
    public var responseTypes: [String]
    /// `client_name`.
    public var clientName: String?
    /// `client_uri`.
    public var clientURI: String?
    /// `scope`.
    public var scope: String?
    /// `software_id`.
    public var softwareID: String?
    /// `software_version`.
    public var softwareVersion: String?

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case clientSecret = "client_secret"
        case clientIDIssuedAt = "client_id_issued_at"
        case clientSecretExpiresAt = "client_secret_expires_at"
        case redirectURIs = "redirect_uris"
        case tokenEndpointAuthMethod = "token_endpoint_auth_method"
        case grantTypes = "grant_types"
        case responseTypes = "response_types"
        case clientName = "client_name"
        case clientURI = "client_uri"
        case scope
        case softwareID = "software_id"
        case softwareVersion = "software_version"
    }
}

/// A source has created too many clients lately (docs/security.md §7 rate limits).
public struct RegistrationLimitExceeded: Error, Sendable {
    /// Seconds until the source may register again (`Retry-After`).
    public var retryAfter: Int
    /// Creates the error.
    public init(retryAfter: Int = 60) { self.retryAfter = retryAfter }
}

/// Which dynamically registered clients `pixy clients prune` removes: those not used (or, if
/// never used, not created) within `unusedFor`. Operator-registered clients are never pruned.
public enum ClientPruning {
    /// The clients to remove.
    public static func stale(_ clients: [Client], unusedFor: Duration, now: Date) -> [Client] {
        clients.filter { client in
            client.isDynamicallyRegistered && (client.lastUsedAt ?? client.createdAt).addingTimeInterval(unusedFor.timeInterval) <= now
        }
    }
}

/// `POST /register` logic (RFC 7591 §3; docs/security.md §7).
public struct ClientRegistrar: Sendable {
    private let clients: any ClientStore
    private let policy: ServerPolicy
    private let clock: any WallClock

    /// Per-field limits: real metadata is small, and everything here ends up on a page or in a row.
    public static let maximumRedirectURIs = 10
    /// Longest `client_name`, `software_id`, `software_version`.
    public static let maximumTextLength = 200

    /// Creates a registrar.
    public init(clients: any ClientStore, policy: ServerPolicy, clock: any WallClock) {
        self.clients = clients
        self.policy = policy
        self.clock = clock
    }

    /// A registration's result, and whether it created a new client.
    public struct Registration: Sendable {
        /// The RFC 7591 §3.2.1 response.
        public var response: ClientRegistrationResponse
        /// `false` when identical public-client metadata returned an existing client.
        public var isNew: Bool
    }

    /// Validates metadata, stores the client and returns the response (with a secret for
    /// confidential clients, stored only as its hash).
    ///
    /// Decision (registration hygiene): a public client that registers metadata identical to an
    /// earlier registration gets that client back, so MCP clients that register on every launch do
    /// not pile up clients without bound. A public client's id is no secret, so returning it gives
    /// nothing away; confidential clients always get a new client, as their secret cannot be shown
    /// twice.
    /// - Parameter admit: asked only when a new client would be created; it throws
    ///   ``RegistrationLimitExceeded`` to refuse (identical re-registrations are always answered).
    public func register(_ metadata: ClientMetadataRequest, admit: () async throws -> Void = {}) async throws -> Registration {
        var stored = try validate(metadata)
        var secret: String?
        if stored.tokenEndpointAuthMethod.isConfidential {
            let fresh = SecureRandom.token(byteCount: 32)
            stored.secretHash = SecretHash.sha256Hex(fresh)
            secret = fresh
        } else {
            let fingerprint = Self.fingerprint(of: stored)
            if let existing = try await clients.client(withRegistrationFingerprint: fingerprint) {
                return Registration(response: response(for: existing, secret: nil), isNew: false)
            }
            stored.registrationFingerprint = fingerprint
        }
        try await admit()
        try await clients.save(stored)
        return Registration(response: response(for: stored, secret: secret), isNew: true)
    }

    /// SHA-256 over the registered metadata in a fixed order (JSON, so no field can bleed into another).
    static func fingerprint(of client: Client) -> String {
        let parts: [String?] = [
            client.tokenEndpointAuthMethod.rawValue, client.clientName, client.clientURI, client.scope?.description,
            client.softwareID, client.softwareVersion,
        ]
        let canonical: [[String]] = [client.redirectURIs, client.grantTypes.map(\.rawValue), parts.map { $0 ?? "\u{0}" }]
        let data = (try? JSONEncoder().encode(canonical)) ?? Data()
        return SecretHash.sha256Hex(String(decoding: data, as: UTF8.self))
    }

    func response(for stored: Client, secret: String?) -> ClientRegistrationResponse {
        ClientRegistrationResponse(
            clientID: stored.clientID.rawValue, clientSecret: secret,
            clientIDIssuedAt: Int(stored.createdAt.timeIntervalSince1970),
            clientSecretExpiresAt: secret == nil ? nil : 0,
            redirectURIs: stored.redirectURIs, tokenEndpointAuthMethod: stored.tokenEndpointAuthMethod.rawValue,
            grantTypes: stored.grantTypes.map(\.rawValue), responseTypes: ["code"],
            clientName: stored.clientName, clientURI: stored.clientURI, scope: stored.scope?.description,
            softwareID: stored.softwareID, softwareVersion: stored.softwareVersion)
    }

    /// The client that `metadata` describes, or `invalid_redirect_uri` / `invalid_client_metadata`.
    public func validate(_ metadata: ClientMetadataRequest) throws(OAuthError) -> Client {
        try Self.validateMetadata(metadata, policy: policy, now: clock.now())
    }

    /// The registration rules, shared with Client ID Metadata Documents.
    static func validateMetadata(_ metadata: ClientMetadataRequest, policy: ServerPolicy, now: Date) throws(OAuthError) -> Client {
        func invalid(_ why: String) -> OAuthError { OAuthError(.invalidClientMetadata, why) }

        guard let redirectURIs = metadata.redirectURIs, !redirectURIs.isEmpty else {
            throw OAuthError(.invalidRedirectURI, "redirect_uris is required for the authorization code grant.")
        }
        guard redirectURIs.count <= Self.maximumRedirectURIs else {
            throw OAuthError(.invalidRedirectURI, "At most \(Self.maximumRedirectURIs) redirect URIs may be registered.")
        }
        for uri in redirectURIs { try RedirectURIPolicy.validate(uri) }

        // RFC 7591 §2: the default method is client_secret_basic.
        let methodValue = metadata.tokenEndpointAuthMethod ?? ClientAuthenticationMethod.clientSecretBasic.rawValue
        guard let method = ClientAuthenticationMethod(rawValue: methodValue) else {
            throw invalid("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post.")
        }

        // RFC 7591 §2.1: grant_types and response_types must agree; only code flows exist here.
        let grantValues = metadata.grantTypes ?? [GrantType.authorizationCode.rawValue]
        var grants: [GrantType] = []
        for value in grantValues {
            guard let grant = GrantType(rawValue: value) else {
                if value == "client_credentials", method == .none {
                    throw invalid("A public client (none) cannot use client_credentials.")
                }
                throw invalid("grant_type \(value) is not supported; use authorization_code and refresh_token.")
            }
            if !grants.contains(grant) { grants.append(grant) }
        }
        guard grants.contains(.authorizationCode) else {
            throw invalid("grant_types must include authorization_code.")
        }
        let responseTypes = metadata.responseTypes ?? ["code"]
        guard !responseTypes.isEmpty, responseTypes.allSatisfy({ $0 == "code" }) else {
            throw invalid("response_types may only contain code.")
        }

        var scope: Scope?
        if let value = metadata.scope {
            guard let parsed = Scope(parsing: value) else { throw invalid("scope is malformed.") }
            let unsupported = parsed.tokens(notIn: policy.scopesSupported)
            guard unsupported.isEmpty else {
                throw invalid("scope contains unsupported values: \(unsupported.joined(separator: " ")).")
            }
            scope = parsed
        }
        for (name, value) in [
            ("client_name", metadata.clientName), ("software_id", metadata.softwareID),
            ("software_version", metadata.softwareVersion),
        ] {
            // Control characters, and the bidi and zero-width ones (Unicode Cf) that can make a
            // name on the consent page read as something else (docs/threat-model.md).
            if let value, value.count > Self.maximumTextLength || TextSafety.containsInvisibleOrControl(value) {
                throw invalid("\(name) is too long or contains control or invisible characters.")
            }
        }
        var clientURI: String?
        if let value = metadata.clientURI {
            // Shown as a link on the consent page: https only, so no javascript: can ever be rendered.
            guard value.utf8.count <= RedirectURIPolicy.maximumLength, value.hasPrefix("https://"),
                value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else {
                throw invalid("client_uri must be an https URL.")
            }
            clientURI = value
        }

        return Client(
            clientID: ClientID(SecureRandom.token(byteCount: 16)), clientName: metadata.clientName,
            redirectURIs: redirectURIs, tokenEndpointAuthMethod: method, grantTypes: grants, scope: scope,
            clientURI: clientURI, isDynamicallyRegistered: true, isConsentSkipped: false, createdAt: now,
            softwareID: metadata.softwareID, softwareVersion: metadata.softwareVersion)
    }
}
