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
        self.library = library
    }

    func login(clientName: String, action: String, csrfToken: String, errorMessage: String?) -> String {
        var context: [String: Any] = ["clientName": clientName, "action": action, "csrfToken": csrfToken]
        if let errorMessage { context["errorMessage"] = errorMessage }
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

    func error(code: String, description: String) -> String {
        library.render(["code": code, "description": description], withTemplate: "error") ?? ""
    }
}
