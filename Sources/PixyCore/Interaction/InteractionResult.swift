import Logging
import PixyModel

/// What the browser is told to do after a request to `/authorize` or one of the pages.
public struct InteractionResult: Sendable {
    /// Where the browser goes, or what it is shown.
    public var next: Next
    /// A change to the session cookie, if any.
    public var cookie: SessionCookieChange?

    /// Bundles a result.
    public init(_ next: Next, cookie: SessionCookieChange? = nil) {
        self.next = next
        self.cookie = cookie
    }

    /// Where the browser goes next.
    public enum Next: Sendable {
        /// Back to the client's redirect URI with a code or an error (RFC 6749 §4.1.2, §4.1.2.1).
        case client(location: String)
        /// To an upstream identity provider's authorization endpoint (a URL built from the
        /// operator's configuration and the provider's discovery document, never from the request).
        case upstream(location: String)
        /// To the login or consent page of a waiting request (`nil` when none is known any more),
        /// with the problem the login page should explain.
        case step(InteractionStep, transactionID: String?, problem: LoginProblem? = nil)
        /// An error page, never a redirect (docs/security.md §1.3). With `continueURL`, the page
        /// names where the error would go and lets the user follow it.
        case errorPage(OAuthError, continueURL: String? = nil)
        /// A form that was not sent from this browser's own page (no or another session's CSRF
        /// token): refused outright, not merely stale.
        case forgedForm(OAuthError)
        /// The login page.
        case login(LoginPage)
        /// The consent page.
        case consent(ConsentPage)
        /// The sign-out page: a confirmation, or the news that the user is signed out.
        case signOut(SignOutPage)
    }
}

/// The two pages an authorization request can wait on.
public enum InteractionStep: String, Sendable, Equatable {
    /// The login page.
    case login
    /// The consent page.
    case consent
}

/// A change to the browser's session cookie. The transport names and scopes the cookie.
public enum SessionCookieChange: Sendable, Equatable {
    /// Set the cookie to `value` for `maxAge` seconds.
    case set(value: String, maxAge: Int)
    /// Delete the cookie.
    case clear
}

/// Why the login page is shown again.
public enum LoginProblem: String, Sendable, Equatable, CaseIterable {
    /// Wrong username or password (one message for both: no user enumeration).
    case invalid
    /// Too many failed attempts for the account or from the source.
    case throttled
    /// Password checks are at capacity; try again shortly.
    case busy
    /// The form's CSRF token is missing or stale.
    case expired
    /// The upstream provider could not be reached, or failed; try again.
    case upstreamUnavailable = "upstream_unavailable"
    /// The upstream provider said the user declined, or reported another error.
    case upstreamFailed = "upstream_failed"
    /// The upstream account may not sign in here (the operator's rule).
    case notAllowed = "not_allowed"
    /// Password sign-in is turned off: choose a provider.
    case passwordsOff = "passwords_off"
}
