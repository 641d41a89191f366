public import CoreMetrics

/// What the server counts, through swift-metrics (docs/operations.md, Metrics).
///
/// Every label value comes from a closed set written in this file or from a stable error code
/// (``OAuthError/Code``), never from a request: no token, code, secret, user name or client id can
/// reach a label, and the number of series stays bounded whatever clients send
/// (docs/threat-model.md, "Metrics"). The factory is injected, so each server (and each test) has
/// its own registry; ``disabled`` counts nothing.
public struct Telemetry: Sendable {
    /// Where the metrics go.
    public let factory: any MetricsFactory

    /// Counts into `factory` (PixyServer passes a Prometheus registry's factory).
    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Counts nothing.
    public static let disabled = Telemetry(factory: NOOPMetricsHandler.instance)

    /// Adds one to the counter `name` with `labels`.
    public func increment(_ name: String, _ labels: [(String, String)] = []) {
        Counter(label: name, dimensions: labels, factory: factory).increment()
    }

    /// Records `duration` in the histogram `name` with `labels`.
    public func record(_ name: String, duration: Duration, _ labels: [(String, String)] = []) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        Timer(label: name, dimensions: labels, factory: factory).recordNanoseconds(nanoseconds)
    }

    /// Sets the gauge `name` to `value`.
    public func set(_ name: String, to value: Double, _ labels: [(String, String)] = []) {
        Gauge(label: name, dimensions: labels, factory: factory).record(value)
    }
}

// MARK: - The server's events

extension Telemetry {
    /// Metric names, in one place so docs/operations.md and the tests can follow them.
    public enum Name {
        /// Token requests by `grant_type` and `outcome`.
        public static let tokenRequests = "pixy_token_requests_total"
        /// Authorization codes replayed by their own client (RFC 6749 §4.1.2: what they produced is revoked).
        public static let codeReplays = "pixy_code_replays_total"
        /// Refresh tokens used again after rotation (RFC 9700 §4.14.2: the family is revoked).
        public static let refreshReuse = "pixy_refresh_reuse_total"
        /// Refresh-token families ended, by `reason`.
        public static let familiesRevoked = "pixy_families_revoked_total"
        /// Sign-ins by `method` and `result`.
        public static let signIns = "pixy_sign_ins_total"
        /// Consent decisions by `decision`.
        public static let consents = "pixy_consents_total"
        /// Dynamic registrations by `result`.
        public static let registrations = "pixy_registrations_total"
        /// Client ID Metadata Document fetches by `outcome`.
        public static let metadataDocumentFetches = "pixy_cimd_fetches_total"
        /// Store operations by `store`, `operation` and `result`.
        public static let storeOperations = "pixy_store_operations_total"
        /// Store operation latency by `store` and `operation`.
        public static let storeDuration = "pixy_store_operation_duration_seconds"
        /// Requests from client software (token and registration endpoints) by `kind`.
        public static let clientRequests = "pixy_client_requests_total"
        /// Password checks (bcrypt) running now.
        public static let passwordChecksInFlight = "pixy_password_checks_in_flight"
        /// Age of the key that signs new access tokens.
        public static let signingKeyAge = "pixy_signing_key_age_seconds"
        /// Grants revoked by their user on the connected-apps page.
        public static let appsRevokedByUser = "pixy_connected_apps_revoked_total"
    }

    /// The `grant_type` label: the grant types Pixy knows, `other` for anything else (a client can
    /// send any string, and it must not become a series), `missing` when absent.
    static func grantTypeLabel(_ value: String?) -> String {
        guard let value else { return "missing" }
        return GrantType(rawValue: value)?.rawValue ?? "other"
    }

    /// Counts a token request and its outcome: `ok` or the OAuth error code.
    public func tokenRequest(grantType: String?, outcome: Result<some Any, OAuthError>) {
        let label: String
        switch outcome {
        case .success: label = "ok"
        case .failure(let error): label = error.code.rawValue
        }
        increment(Name.tokenRequests, [("grant_type", Self.grantTypeLabel(grantType)), ("outcome", label)])
    }

    /// Why a refresh-token family ended.
    public enum FamilyRevocationReason: String, Sendable {
        /// Its refresh token was used again after rotation.
        case reuse
        /// The code that started it was replayed by its client.
        case codeReplay = "code_replay"
        /// The client revoked it (RFC 7009).
        case client
        /// Its user revoked it on the connected-apps page.
        case user
        /// Its user no longer exists.
        case userRemoved = "user_removed"
    }

    /// Counts a family that this call ended (not one that was already revoked).
    public func familyRevoked(_ reason: FamilyRevocationReason) {
        increment(Name.familiesRevoked, [("reason", reason.rawValue)])
    }

    /// How a sign-in was attempted.
    public enum SignInMethod: String, Sendable {
        /// The login form.
        case password
        /// An upstream identity provider.
        case upstream
    }

    /// How a sign-in ended.
    public enum SignInResult: String, Sendable {
        /// The user is signed in.
        case ok
        /// Wrong password or unknown user (the two are not told apart, not even here).
        case badPassword = "bad_password"
        /// The failed-login limit for the account or the source was reached.
        case throttled
        /// Every password check slot was taken; the attempt was refused at once.
        case busy
        /// The form came without this browser's CSRF token, or the wait expired.
        case expired
        /// The provider failed, answered wrongly, or its ID token did not validate.
        case upstreamError = "upstream_error"
        /// The provider signed the person in, but the access rules refused them.
        case upstreamRefused = "upstream_refused"
        /// The person cancelled or the provider refused at its end.
        case upstreamDenied = "upstream_denied"
    }

    /// Counts a sign-in attempt.
    public func signIn(_ method: SignInMethod, _ result: SignInResult) {
        increment(Name.signIns, [("method", method.rawValue), ("result", result.rawValue)])
    }

    /// Counts a consent decision.
    public func consent(approved: Bool) {
        increment(Name.consents, [("decision", approved ? "approved" : "denied")])
    }

    /// How a registration ended.
    public enum RegistrationResult: String, Sendable {
        /// A new client was stored.
        case created
        /// The same metadata was registered before: the existing client was returned.
        case reused
        /// The source's registration limit was reached.
        case rateLimited = "rate_limited"
        /// The metadata was refused (`invalid_client_metadata`, `invalid_redirect_uri`).
        case refused
        /// The store failed.
        case error
    }

    /// Counts a registration.
    public func registration(_ result: RegistrationResult) {
        increment(Name.registrations, [("result", result.rawValue)])
    }

    /// Counts a Client ID Metadata Document fetch by its outcome.
    public func metadataDocumentFetch(_ outcome: MetadataDocumentFetchOutcome) {
        increment(Name.metadataDocumentFetches, [("outcome", outcome.rawValue)])
    }

    /// How a Client ID Metadata Document lookup ended.
    public enum MetadataDocumentFetchOutcome: String, Sendable {
        /// Fetched and valid.
        case ok
        /// Served from the cache.
        case cached
        /// Fetched, but the document was refused (shape, `client_id` mismatch, size).
        case invalid
        /// The fetch failed (network, status, deadline, address refused).
        case error
    }

    /// Counts a request from client software by the kind its User-Agent names.
    public func clientRequest(userAgent: String?) {
        increment(Name.clientRequests, [("kind", ClientKind(userAgent: userAgent).rawValue)])
    }
}

/// The kind of client software, from its User-Agent: a handful of values, so a label stays small
/// whatever the header says (docs/operations.md, Metrics).
public enum ClientKind: String, Sendable, CaseIterable {
    /// Anthropic's Claude (apps and connectors).
    case claude
    /// OpenAI's ChatGPT connectors.
    case chatgpt
    /// The MCP TypeScript SDK and other Node clients.
    case node
    /// Python clients: the MCP Python SDK and FastMCP (which send httpx's `python-httpx/…`),
    /// requests, Authlib.
    case python
    /// Swift clients (the Swift MCP SDK, AsyncHTTPClient, URLSession).
    case swift
    /// curl.
    case curl
    /// A browser (a single-page app calling the token endpoint).
    case browser
    /// Anything else, or no User-Agent.
    case other

    /// Classifies a User-Agent by substrings, first match wins; case-insensitive.
    public init(userAgent: String?) {
        guard let agent = userAgent?.lowercased(), !agent.isEmpty else {
            self = .other
            return
        }
        let rules: [(String, ClientKind)] = [
            ("claude", .claude), ("anthropic", .claude), ("chatgpt", .chatgpt), ("openai", .chatgpt),
            ("python", .python), ("authlib", .python), ("node", .node), ("undici", .node), ("axios", .node),
            ("asynchttpclient", .swift), ("cfnetwork", .swift), ("swift", .swift), ("curl", .curl),
            ("mozilla", .browser),
        ]
        for (needle, kind) in rules where agent.contains(needle) {
            self = kind
            return
        }
        self = .other
    }
}
