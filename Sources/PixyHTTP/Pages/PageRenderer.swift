import Foundation
import Mustache
import PixyCore

/// Renders the interactive pages. Templates are parsed once at start-up.
/// Every page carries the operator's branding (``PageBranding``).
struct PageRenderer: Sendable {
    private let library: MustacheLibrary
    /// The operator's name and logo, shown on every page.
    let branding: PageBranding

    init(branding: PageBranding = PageBranding()) throws {
        self.branding = branding
        var library = MustacheLibrary()
        try library.register(Templates.style, named: "style")
        try library.register(Templates.brand, named: "brand")
        try library.register(Templates.home, named: "home")
        try library.register(Templates.login, named: "login")
        try library.register(Templates.consent, named: "consent")
        try library.register(Templates.error, named: "error")
        try library.register(Templates.signedOut, named: "signedOut")
        try library.register(Templates.connectedApps, named: "connectedApps")
        self.library = library
    }

    /// Renders `template` with `context` plus the branding.
    private func render(_ context: [String: Any], _ template: String) -> String {
        var context = context
        context["brandName"] = branding.name
        if let logo = branding.logo { context["brandLogo"] = logo }
        return library.render(context, withTemplate: template) ?? ""
    }

    func login(
        clientName: String, action: String, csrfToken: String, errorMessage: String?, isUnverified: Bool,
        metadataHost: String?, providers: [LoginPage.ProviderButton] = [], providerAction: String = "", showsPasswordForm: Bool = true
    ) -> String {
        var context: [String: Any] = [
            "clientName": clientName, "action": action, "csrfToken": csrfToken, "isUnverified": isUnverified,
            "providers": providers.map { ["id": $0.id, "name": $0.name] }, "hasProviders": !providers.isEmpty,
            "providerAction": providerAction, "showsPasswordForm": showsPasswordForm,
            "showsDivider": showsPasswordForm && !providers.isEmpty,
        ]
        if let errorMessage { context["errorMessage"] = errorMessage }
        if let metadataHost { context["metadataHost"] = metadataHost }
        return render(context, "login")
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
        /// `GET /logout` for this request: "Not you?" signs out and returns to sign-in.
        var logoutURL: String
    }

    func consent(_ page: ConsentPage) -> String {
        var context: [String: Any] = [
            "clientName": page.clientName, "clientID": page.clientID, "username": page.username,
            "redirectHost": page.redirectHost,
            "scopes": page.scopes.map { scope in
                var entry: [String: Any] = ["name": scope.name, "isNew": scope.isNew]
                if let description = branding.scopeDescriptions[scope.name] { entry["description"] = description }
                return entry
            }, "hasScopes": !page.scopes.isEmpty,
            "isUnverified": page.isUnverified, "action": page.action, "csrfToken": page.csrfToken, "logoutURL": page.logoutURL,
        ]
        if let resource = page.resource { context["resource"] = resource }
        if let host = page.metadataHost { context["metadataHost"] = host }
        return render(context, "consent")
    }

    /// The error page; with `continueURL`, an interstitial that names where the error would go.
    func error(code: String, description: String, continueURL: String? = nil, continueHost: String? = nil) -> String {
        var context: [String: Any] = ["code": code, "description": description]
        if let continueURL, let continueHost {
            context["continueURL"] = continueURL
            context["continueHost"] = continueHost
        }
        return render(context, "error")
    }

    /// The sign-out page: a form while signed in (`csrfToken`), a confirmation afterwards.
    func signedOut(title: String, action: String, csrfToken: String?, lead: String? = nil) -> String {
        var context: [String: Any] = ["title": title, "action": action]
        if let csrfToken { context["csrfToken"] = csrfToken }
        if let lead { context["lead"] = lead }
        return render(context, "signedOut")
    }

    /// The connected-apps page: one section per application, each with its revoke form.
    func connectedApps(_ page: ConnectedAppsPage, revokeAction: String, signOutURL: String) -> String {
        let machine = ISO8601DateFormatter()
        let human = DateFormatter()
        human.locale = Locale(identifier: "en_US_POSIX")
        human.timeZone = TimeZone(identifier: "UTC")
        human.dateFormat = "d MMM yyyy, HH:mm 'UTC'"
        var context: [String: Any] = [
            "username": page.username, "signOutURL": signOutURL, "hasApps": !page.apps.isEmpty,
            "apps": page.apps.map { app -> [String: Any] in
                var entry: [String: Any] = [
                    "clientID": app.clientID, "name": app.name, "redirectHosts": app.redirectHosts,
                    "hasRedirectHosts": !app.redirectHosts.isEmpty, "scopes": app.scopes, "hasScopes": !app.scopes.isEmpty,
                    "resources": app.resources, "hasResources": !app.resources.isEmpty, "isUnverified": app.isUnverified,
                    "approvedAt": machine.string(from: app.approvedAt), "approvedAtText": human.string(from: app.approvedAt),
                    "lastUsedAt": machine.string(from: app.lastUsedAt), "lastUsedAtText": human.string(from: app.lastUsedAt),
                    "revokeAction": revokeAction, "csrfToken": page.csrfToken,
                ]
                if let host = app.metadataHost { entry["metadataHost"] = host }
                return entry
            },
        ]
        switch page.notice {
        case .revoked?: context["notice"] = "Access revoked. The application must ask you again to use your account."
        case .notConnected?: context["notice"] = "That application was not connected to your account."
        case nil: break
        }
        return render(context, "connectedApps")
    }

    /// The page at `GET /`: the brand, the issuer, and links to the metadata and the JWKS.
    func home(issuer: String, metadataPath: String, jwksPath: String) -> String {
        render(["issuer": issuer, "metadataPath": metadataPath, "jwksPath": jwksPath], "home")
    }
}
