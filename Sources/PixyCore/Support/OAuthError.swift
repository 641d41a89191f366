/// An OAuth error: a stable code (RFC 6749 §4.1.2.1 and §5.2 and the extensions), a description
/// that may be shown to the client, and a detail that only goes to logs.
///
/// Equality is on `code` only, so tests and callers match on what the client sees. The error is
/// immutable and says everything a transport needs: its ``condition`` decides the HTTP status in
/// one place (PixyHTTP's `Responses.status(for:)`), and a failure caused by another error keeps it
/// as ``underlying`` for the log.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The value of the `error` parameter.
    public let code: Code
    /// The `error_description`: human-readable, never a secret, code or token.
    public let description: String
    /// Log-only context; never sent to the client.
    public let detail: String?
    /// Why the request could not be served, beyond the code: decides the transport's status.
    public let condition: Condition
    /// The failure that caused this one (a store error), for the log; never sent to the client.
    public let underlying: (any Error)?

    /// Creates an error. Without a `condition`, the code decides it: `server_error` is
    /// ``Condition/failed``, `temporarily_unavailable` ``Condition/unavailable``, anything else
    /// ``Condition/refused``.
    public init(
        _ code: Code, _ description: String, detail: String? = nil, condition: Condition? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.description = description
        self.detail = detail
        self.underlying = underlying
        self.condition = condition ?? (code == .serverError ? .failed : code == .temporarilyUnavailable ? .unavailable : .refused)
    }

    /// Whether the failure is temporary (the store is unreachable, or a limit was reached): the
    /// client may retry, and an authorization redirect says `temporarily_unavailable`.
    public var isTemporary: Bool {
        switch condition {
        case .unavailable, .rateLimited: true
        case .refused, .failed: false
        }
    }

    /// What the log says about the failure: the detail, then the underlying error. Never sent to
    /// the client.
    public var logReason: String? {
        switch (detail, underlying) {
        case (let detail?, let underlying?): "\(detail): \(underlying)"
        case (let detail?, nil): detail
        case (nil, let underlying?): "\(underlying)"
        case (nil, nil): nil
        }
    }

    /// What kind of failure an error is, independent of its wire code.
    public enum Condition: Sendable, Equatable {
        /// The request is wrong or not allowed (RFC 6749 §5.2: 400, or 401 for `invalid_client`).
        case refused
        /// A store could not be reached: retry shortly (503 with `Retry-After: 1`).
        case unavailable
        /// A per-source limit was reached: retry after `retryAfter` seconds (429).
        case rateLimited(retryAfter: Int)
        /// The server failed (500); nothing was decided in the client's favour.
        case failed
    }

    public static func == (lhs: OAuthError, rhs: OAuthError) -> Bool { lhs.code == rhs.code }

    /// A registered OAuth error code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// RFC 6749 §4.1.2.1 and §5.2.
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// RFC 6749 §5.2: client authentication failed.
        public static let invalidClient = Code(rawValue: "invalid_client")
        /// RFC 6749 §5.2: the code or refresh token is invalid, expired, revoked or mismatched.
        public static let invalidGrant = Code(rawValue: "invalid_grant")
        /// RFC 6749 §4.1.2.1 and §5.2.
        public static let unauthorizedClient = Code(rawValue: "unauthorized_client")
        /// RFC 6749 §5.2.
        public static let unsupportedGrantType = Code(rawValue: "unsupported_grant_type")
        /// RFC 6749 §4.1.2.1.
        public static let unsupportedResponseType = Code(rawValue: "unsupported_response_type")
        /// RFC 6749 §4.1.2.1 and §5.2.
        public static let invalidScope = Code(rawValue: "invalid_scope")
        /// RFC 6749 §4.1.2.1.
        public static let accessDenied = Code(rawValue: "access_denied")
        /// RFC 6749 §4.1.2.1.
        public static let serverError = Code(rawValue: "server_error")
        /// RFC 6749 §4.1.2.1.
        public static let temporarilyUnavailable = Code(rawValue: "temporarily_unavailable")
        /// RFC 8707 §2.
        public static let invalidTarget = Code(rawValue: "invalid_target")
        /// RFC 7591 §3.2.2.
        public static let invalidRedirectURI = Code(rawValue: "invalid_redirect_uri")
        /// RFC 7591 §3.2.2.
        public static let invalidClientMetadata = Code(rawValue: "invalid_client_metadata")
        /// OpenID Connect Core §3.1.2.6, used for `prompt=none`.
        public static let loginRequired = Code(rawValue: "login_required")
        /// OpenID Connect Core §3.1.2.6, used for `prompt=none`.
        public static let consentRequired = Code(rawValue: "consent_required")
    }
}

extension OAuthError {
    /// `invalid_request` with a description.
    public static func invalidRequest(_ description: String, detail: String? = nil) -> OAuthError {
        OAuthError(.invalidRequest, description, detail: detail)
    }
    /// `invalid_client` with a description.
    public static func invalidClient(_ description: String = "Client authentication failed.", detail: String? = nil) -> OAuthError {
        OAuthError(.invalidClient, description, detail: detail)
    }
    /// `invalid_grant` with a description.
    public static func invalidGrant(_ description: String, detail: String? = nil) -> OAuthError {
        OAuthError(.invalidGrant, description, detail: detail)
    }
    /// `invalid_scope` with a description.
    public static func invalidScope(_ description: String, detail: String? = nil) -> OAuthError {
        OAuthError(.invalidScope, description, detail: detail)
    }
    /// `invalid_target` with a description.
    public static func invalidTarget(_ description: String, detail: String? = nil) -> OAuthError {
        OAuthError(.invalidTarget, description, detail: detail)
    }
    /// `server_error`: the store or another dependency failed; Pixy fails closed.
    public static func serverError(detail: String? = nil) -> OAuthError {
        OAuthError(.serverError, "The authorization server encountered an unexpected condition.", detail: detail)
    }

    /// `server_error` for a failure while doing `what`, keeping `error` as the cause; temporary
    /// when the store could not be reached at all (docs/security.md §10: fail closed, recover by itself).
    public static func storageFailure(_ error: any Error, while what: String) -> OAuthError {
        let isUnavailable = (error as? StorageError)?.isUnavailable ?? false
        return OAuthError(
            .serverError, "The authorization server encountered an unexpected condition.",
            detail: "\(what) failed", condition: isUnavailable ? .unavailable : .failed, underlying: error)
    }
}
