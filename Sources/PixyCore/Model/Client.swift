public import struct Foundation.Date

/// A registered client (RFC 6749 §2, RFC 7591 §2). Durable: lives in the client store.
public struct Client: Sendable, Codable, Equatable {
    /// The identifier the client presents.
    public var clientID: ClientID
    /// A human-readable name, shown HTML-escaped on the consent page.
    public var clientName: String?
    /// The registered redirect URIs, matched byte for byte (docs/security.md §1.2).
    public var redirectURIs: [String]
    /// How the client authenticates at the token endpoint.
    public var tokenEndpointAuthMethod: ClientAuthenticationMethod
    /// SHA-256 hex of the client secret; `nil` for public clients. The secret itself is never stored.
    public var secretHash: String?
    /// The grant types the client may use.
    public var grantTypes: [GrantType]
    /// The scope the client may request; `nil` means any supported scope.
    public var scope: Scope?
    /// The client's home page, shown on the consent page when it is https.
    public var clientURI: String?
    /// Whether the client came through `POST /register`. Such clients always see consent (RFC 8252 §8.6).
    public var isDynamicallyRegistered: Bool
    /// A first-party client registered by the operator may skip the consent page.
    /// Never true for dynamically registered or public-by-registration clients.
    public var isConsentSkipped: Bool
    /// When the client was created.
    public var createdAt: Date
    /// `software_id` from registration, kept for the operator.
    public var softwareID: String?
    /// `software_version` from registration.
    public var softwareVersion: String?
    /// For dynamically registered public clients: a digest of the registered metadata, so an
    /// identical re-registration returns this client instead of piling up new ones.
    public var registrationFingerprint: String?
    /// When a token was last issued to the client (kept to within a day), for pruning.
    public var lastUsedAt: Date?
    /// Whether the client is described by a Client ID Metadata Document (its id is the URL);
    /// such clients are fetched and cached, never stored.
    public var isMetadataDocument = false
    /// Whether the operator registered the client as a resource server, which may call
    /// `/introspect` (RFC 7662 §2.1). `nil` on records from before this flag: operator-registered
    /// confidential clients kept the right they had.
    public var isResourceServer: Bool?

    /// Creates a client record.
    public init(
        clientID: ClientID,
        clientName: String? = nil,
        redirectURIs: [String],
        tokenEndpointAuthMethod: ClientAuthenticationMethod = .none,
        secretHash: String? = nil,
        grantTypes: [GrantType] = [.authorizationCode],
        scope: Scope? = nil,
        clientURI: String? = nil,
        isDynamicallyRegistered: Bool = false,
        isConsentSkipped: Bool = false,
        createdAt: Date,
        softwareID: String? = nil,
        softwareVersion: String? = nil
    ) {
        self.clientID = clientID
        self.clientName = clientName
        self.redirectURIs = redirectURIs
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.secretHash = secretHash
        self.grantTypes = grantTypes
        self.scope = scope
        self.clientURI = clientURI
        self.isDynamicallyRegistered = isDynamicallyRegistered
        self.isConsentSkipped = isConsentSkipped && !isDynamicallyRegistered
        self.createdAt = createdAt
        self.softwareID = softwareID
        self.softwareVersion = softwareVersion
    }

    /// Whether the client is public (no secret).
    public var isPublic: Bool { !tokenEndpointAuthMethod.isConfidential }

    /// Whether the client may introspect tokens: a confidential client the operator registered as
    /// a resource server; never a self-registered or metadata-document client (RFC 7662 §4).
    public var mayIntrospect: Bool {
        !isPublic && !isDynamicallyRegistered && !isMetadataDocument && (isResourceServer ?? true)
    }

    /// Whether the consent page may be skipped: only operator-registered clients marked so.
    /// RFC 8252 §8.6: dynamically registered clients' identity cannot be assured, so never.
    public var maySkipConsent: Bool { isConsentSkipped && !isDynamicallyRegistered }
}
