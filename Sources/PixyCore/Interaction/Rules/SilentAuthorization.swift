import PixyModel

/// `prompt=none` (OpenID Connect Core §3.1.2.1, §3.1.2.6): the client wants an answer without
/// any page. If a page would be needed, the answer is an error for the redirect URI instead.
public enum SilentAuthorization {
    /// The error for a `prompt=none` request that would need a page, or `nil` when none is
    /// needed or the request does not say `prompt=none`.
    public static func refusal(for request: AuthorizationRequest, needsLogin: Bool, needsConsent: Bool) -> OAuthError? {
        guard request.prompt.contains(.none) else { return nil }
        if needsLogin { return OAuthError(.loginRequired, "The user is not signed in.") }
        if needsConsent { return OAuthError(.consentRequired, "The user must approve this application.") }
        return nil
    }
}
