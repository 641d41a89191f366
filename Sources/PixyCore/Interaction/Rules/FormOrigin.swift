import PixyModel

/// A page's POST must carry the CSRF token of the session that rendered the form
/// (docs/security.md §8), compared in constant time.
public enum FormOrigin {
    /// Whether `presented` is the session's CSRF token.
    public static func isGenuine(_ presented: String?, session: BrowserSession) -> Bool {
        guard let presented else { return false }
        return ConstantTime.isEqual(presented, session.csrfToken)
    }
}
