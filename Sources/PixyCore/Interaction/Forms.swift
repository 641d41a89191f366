import Logging
import PixyModel

/// The login form's fields, as posted.
public struct LoginForm: Sendable {
    /// `csrf_token`, when sent once.
    public var csrfToken: String?
    /// `username`, canonicalised later (``Username/canonical(_:)``); empty when missing.
    public var username: String
    /// `password`; empty when missing.
    public var password: String

    /// Bundles the fields.
    public init(csrfToken: String?, username: String, password: String) {
        self.csrfToken = csrfToken
        self.username = username
        self.password = password
    }

    /// Reads the fields; a field sent twice counts as missing.
    public init(form: FormParameters) {
        self.init(
            csrfToken: (try? form.single("csrf_token")) ?? nil, username: ((try? form.single("username")) ?? nil) ?? "",
            password: ((try? form.single("password")) ?? nil) ?? "")
    }
}

/// The consent form's fields, as posted.
public struct ConsentForm: Sendable {
    /// `csrf_token`, when sent once.
    public var csrfToken: String?
    /// `decision`: `approve` or `deny`; anything else shows the page again.
    public var decision: String?

    /// Bundles the fields.
    public init(csrfToken: String?, decision: String?) {
        self.csrfToken = csrfToken
        self.decision = decision
    }

    /// Reads the fields; a field sent twice counts as missing.
    public init(form: FormParameters) {
        self.init(csrfToken: (try? form.single("csrf_token")) ?? nil, decision: (try? form.single("decision")) ?? nil)
    }
}

/// The sign-out form's field.
public struct SignOutForm: Sendable {
    /// `csrf_token`, when sent once.
    public var csrfToken: String?

    /// Bundles the field.
    public init(csrfToken: String?) { self.csrfToken = csrfToken }

    /// Reads the field; sent twice counts as missing.
    public init(form: FormParameters) { self.init(csrfToken: (try? form.single("csrf_token")) ?? nil) }
}
