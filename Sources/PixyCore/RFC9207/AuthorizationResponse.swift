/// Builds the redirect that carries an authorization response (RFC 6749 §4.1.2, §4.1.2.1) to the
/// client, always with `iss` (RFC 9207 §2) so the client can detect mix-up attacks.
public enum AuthorizationResponse {
    /// `redirectURI` with `code`, `state` and `iss` appended to its query. An existing query is
    /// kept (RFC 6749 §3.1.2); nothing ever goes in the fragment (docs/security.md §8).
    public static func success(redirectURI: String, code: String, state: String?, issuer: String) -> String {
        var pairs = [("code", code)]
        if let state { pairs.append(("state", state)) }
        pairs.append(("iss", issuer))
        return append(pairs, to: redirectURI)
    }

    /// `redirectURI` with `error`, `error_description`, `state` and `iss`.
    public static func failure(redirectURI: String, error: OAuthError, state: String?, issuer: String) -> String {
        var pairs = [("error", error.code.rawValue), ("error_description", error.description)]
        if let state { pairs.append(("state", state)) }
        pairs.append(("iss", issuer))
        return append(pairs, to: redirectURI)
    }

    static func append(_ pairs: [(String, String)], to uri: String) -> String {
        let query = FormParameters.encode(pairs)
        if uri.utf8.contains(UInt8(ascii: "?")) {
            return uri.hasSuffix("?") || uri.hasSuffix("&") ? uri + query : uri + "&" + query
        }
        return uri + "?" + query
    }
}
