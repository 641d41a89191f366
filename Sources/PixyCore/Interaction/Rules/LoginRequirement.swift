import PixyModel

/// When the user must sign in before a code is issued (RFC 6749 §3.1; OpenID Connect Core
/// §3.1.2.1 `prompt=login`): nobody is signed in, or the client asks for a fresh sign-in.
public enum LoginRequirement {
    /// Whether the login page must be shown for `request`.
    public static func applies(to request: AuthorizationRequest, signedIn user: User?) -> Bool {
        user == nil || request.prompt.contains(.login)
    }
}
