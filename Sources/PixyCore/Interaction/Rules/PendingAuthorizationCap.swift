import PixyModel

/// Before anyone signs in, a browser session may hold only a few waiting requests
/// (``ServerPolicy/maximumPendingAuthorizationsPerSession``): storing state for whoever asks is
/// what this cap and the per-source limit bound (docs/security.md §7). A signed-in user's requests
/// are attributable and not capped.
public enum PendingAuthorizationCap {
    /// Whether a signed-out `session` may take one more waiting request.
    public static func admits(_ session: BrowserSession, policy: ServerPolicy) -> Bool {
        session.userID == nil && (session.pendingAuthorizations ?? 0) < policy.maximumPendingAuthorizationsPerSession
    }
}
