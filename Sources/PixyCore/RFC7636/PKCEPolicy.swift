public import PixyModel

/// RFC 7636 rules as Pixy applies them (docs/security.md §2): S256 only, required for every client.
public enum PKCEPolicy {
    /// The challenge of an authorization request.
    ///
    /// - A missing challenge is `invalid_request` (RFC 7636 §4.4.1; OAuth 2.1 requires PKCE).
    /// - A missing method means `plain` (RFC 7636 §4.3) and is refused, as is `plain` itself;
    ///   the comparison is case-sensitive.
    /// - A challenge must be exactly 43 base64url characters encoding 32 bytes.
    public static func challenge(value: String?, method: String?) throws(OAuthError) -> CodeChallenge {
        guard let value else {
            throw .invalidRequest("code_challenge is required (PKCE with S256).")
        }
        guard let method else {
            throw .invalidRequest("code_challenge_method is required and must be S256.")
        }
        guard CodeChallengeMethod(rawValue: method) == .s256 else {
            throw .invalidRequest("Transform algorithm not supported: only S256 is accepted.")
        }
        guard let challenge = CodeChallenge(value) else {
            throw .invalidRequest("code_challenge must be 43 base64url characters (S256).")
        }
        return challenge
    }

    /// The verifier of a token request. Decision (docs/security.md §2): a missing verifier is
    /// `invalid_grant`, a malformed one `invalid_request`, and a well-formed wrong one
    /// `invalid_grant` (see ``verify(_:against:)``).
    public static func verifier(_ value: String?) throws(OAuthError) -> CodeVerifier {
        guard let value else {
            // A token request without the verifier is a grant that cannot be proven: invalid_grant,
            // as other servers answer it (RFC 7636 §4.6 leaves the code unconfirmed).
            throw .invalidGrant("code_verifier is required.")
        }
        guard let verifier = CodeVerifier(value) else {
            throw .invalidRequest("code_verifier must be 43-128 characters from A-Z a-z 0-9 - . _ ~.")
        }
        return verifier
    }

    /// RFC 7636 §4.6: hash the verifier, compare with the stored challenge in constant time.
    public static func verify(_ verifier: CodeVerifier, against challenge: CodeChallenge) throws(OAuthError) {
        guard challenge.isSatisfied(by: verifier) else {
            throw .invalidGrant("The code_verifier does not match the code_challenge.")
        }
    }
}
