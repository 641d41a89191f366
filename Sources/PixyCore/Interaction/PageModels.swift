import Foundation
import Logging
import PixyModel

/// What the login page shows (the transport renders it).
public struct LoginPage: Sendable, Equatable {
    /// The application asking, as the user should read it.
    public var clientName: String
    /// The waiting request the form posts back to.
    public var transactionID: String
    /// The session's CSRF token, for the form.
    public var csrfToken: String
    /// Why the page is shown again, if it is.
    public var problem: LoginProblem?
    /// Whether the client registered itself (RFC 7591) and nobody vouched for its name.
    public var isUnverified: Bool
    /// For a Client ID Metadata Document client, the host that published the document.
    public var metadataHost: String?
    /// The upstream providers offered, in the operator's order.
    public var providers: [ProviderButton] = []
    /// Whether the password form is shown.
    public var showsPasswordForm = true

    /// A provider's button: "Continue with *name*".
    public struct ProviderButton: Sendable, Equatable {
        /// The provider's id, posted with the form.
        public var id: String
        /// The name on the button.
        public var name: String
    }

    /// Creates the page's model.
    public init(
        clientName: String, transactionID: String, csrfToken: String, problem: LoginProblem?, isUnverified: Bool,
        metadataHost: String?
    ) {
        self.clientName = clientName
        self.transactionID = transactionID
        self.csrfToken = csrfToken
        self.problem = problem
        self.isUnverified = isUnverified
        self.metadataHost = metadataHost
    }
}

/// What the consent page shows (the transport renders it).
public struct ConsentPage: Sendable, Equatable {
    /// One requested scope, and whether the user is asked for it for the first time (step-up).
    public struct ScopeLine: Sendable, Equatable {
        /// The scope token.
        public var name: String
        /// Whether this request adds it to what the user already approved.
        public var isNew: Bool

        /// Creates a line.
        public init(name: String, isNew: Bool) {
            self.name = name
            self.isNew = isNew
        }
    }

    /// The application asking.
    public var clientName: String
    /// Its `client_id`.
    public var clientID: String
    /// The signed-in user: the username, or for an upstream account its address or name and
    /// the provider it signed in at (so the user sees which account is about to be shared).
    public var username: String
    /// Where the user will be sent back, as ``RedirectDisplay/host(of:)`` says it.
    public var redirectHost: String
    /// The requested scopes.
    public var scopes: [ScopeLine]
    /// The RFC 8707 resource the token will be for.
    public var resource: String?
    /// Whether the client registered itself and nobody vouched for its name.
    public var isUnverified: Bool
    /// For a Client ID Metadata Document client, the host that published the document.
    public var metadataHost: String?
    /// The waiting request the form posts back to.
    public var transactionID: String
    /// The session's CSRF token, for the form.
    public var csrfToken: String

    /// Creates the page's model.
    public init(
        clientName: String, clientID: String, username: String, redirectHost: String, scopes: [ScopeLine],
        resource: String?, isUnverified: Bool, metadataHost: String?, transactionID: String, csrfToken: String
    ) {
        self.clientName = clientName
        self.clientID = clientID
        self.username = username
        self.redirectHost = redirectHost
        self.scopes = scopes
        self.resource = resource
        self.isUnverified = isUnverified
        self.metadataHost = metadataHost
        self.transactionID = transactionID
        self.csrfToken = csrfToken
    }
}

/// What the sign-out page shows.
public enum SignOutPage: Sendable, Equatable {
    /// Nobody is signed in in this browser; `afterSignOut` when the user has just signed out.
    case signedOut(afterSignOut: Bool)
    /// Ask the signed-in user to confirm. With a waiting request, signing out leads back to its
    /// login page, and the page names the application (`clientName`).
    case confirm(csrfToken: String, transactionID: String?, clientName: String?)
}

/// How a client and its redirect URI are named to the user.
public enum RedirectDisplay {
    /// The client's name, or its id when it gave none.
    public static func name(of client: Client) -> String {
        if let name = client.clientName, !name.isEmpty { return name }
        return client.clientID.rawValue
    }

    /// The host the user will be sent back to, as the pages show it (docs/threat-model.md): the
    /// authority of an http(s) URI; for any other scheme the app it names, since a private-use
    /// URI such as `com.example.app://claude.ai/cb` reaches an app on the device, whatever host it
    /// appears to name (RFC 8252 §7.1).
    public static func host(of uri: String) -> String {
        let lowered = uri.lowercased()
        if lowered.hasPrefix("https://") || lowered.hasPrefix("http://"), let range = uri.range(of: "://") {
            let rest = uri[range.upperBound...]
            let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            return String(rest[..<end])
        }
        let scheme = uri.split(separator: ":", maxSplits: 1).first.map(String.init) ?? uri
        return "an app on this device (\(scheme))"
    }

    /// Whether the client registered itself (RFC 7591) and nobody vouched for its name.
    static func isUnverified(_ client: Client) -> Bool { client.isDynamicallyRegistered && !client.isMetadataDocument }

    /// The host that published a Client ID Metadata Document client's document.
    static func metadataHost(of client: Client) -> String? {
        client.isMetadataDocument ? ClientIDMetadataDocument.host(of: client.clientID.rawValue) : nil
    }
}
