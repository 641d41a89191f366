import Mustache

/// Renders the interactive pages. Templates are parsed once at start-up.
struct PageRenderer: Sendable {
    private let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        try library.register(Templates.style, named: "style")
        try library.register(Templates.login, named: "login")
        try library.register(Templates.consent, named: "consent")
        try library.register(Templates.error, named: "error")
        try library.register(Templates.signedOut, named: "signedOut")
        self.library = library
    }

    func login(clientName: String, action: String, csrfToken: String, errorMessage: String?, isUnverified: Bool,
               metadataHost: String?) -> String {
        var context: [String: Any] = ["clientName": clientName, "action": action, "csrfToken": csrfToken, "isUnverified": isUnverified]
        if let errorMessage { context["errorMessage"] = errorMessage }
        if let metadataHost { context["metadataHost"] = metadataHost }
        return library.render(context, withTemplate: "login") ?? ""
    }

    struct ConsentPage {
        var clientName: String
        var clientID: String
        var username: String
        var redirectHost: String
        var scopes: [(name: String, isNew: Bool)]
        var resource: String?
        var isUnverified: Bool
        var metadataHost: String?
        var action: String
        var csrfToken: String
    }

    func consent(_ page: ConsentPage) -> String {
        var context: [String: Any] = [
            "clientName": page.clientName, "clientID": page.clientID, "username": page.username,
            "redirectHost": page.redirectHost,
            "scopes": page.scopes.map { ["name": $0.name, "isNew": $0.isNew] as [String: Any] }, "hasScopes": !page.scopes.isEmpty,
            "isUnverified": page.isUnverified, "action": page.action, "csrfToken": page.csrfToken,
        ]
        if let resource = page.resource { context["resource"] = resource }
        if let host = page.metadataHost { context["metadataHost"] = host }
        return library.render(context, withTemplate: "consent") ?? ""
    }

    /// The error page; with `continueURL`, an interstitial that names where the error would go.
    func error(code: String, description: String, continueURL: String? = nil, continueHost: String? = nil) -> String {
        var context: [String: Any] = ["code": code, "description": description]
        if let continueURL, let continueHost {
            context["continueURL"] = continueURL
            context["continueHost"] = continueHost
        }
        return library.render(context, withTemplate: "error") ?? ""
    }

    /// The sign-out page: a form while signed in (`csrfToken`), a confirmation afterwards.
    func signedOut(title: String, action: String, csrfToken: String?) -> String {
        var context: [String: Any] = ["title": title, "action": action]
        if let csrfToken { context["csrfToken"] = csrfToken }
        return library.render(context, withTemplate: "signedOut") ?? ""
    }
}
