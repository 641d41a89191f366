import Foundation
import Hummingbird
import Logging
import PixyCore

/// `GET /authorize`, the login, consent and sign-out pages: each decodes the request, asks
/// ``OAuthServer`` and renders the ``InteractionResult``. No OAuth rule lives here.
extension AuthorizationServer {
    /// Longest query string `/authorize` reads: a request is a handful of short parameters.
    static let maximumAuthorizationQuery = 8 * 1024

    func authorize(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard (request.uri.query?.utf8.count ?? 0) <= Self.maximumAuthorizationQuery else {
            return errorPage(.invalidRequest("The authorization request is too long."))
        }
        guard let query = RequestReading.query(request) else {
            return errorPage(.invalidRequest("The request could not be decoded."))
        }
        return render(try await oauth.authorize(query, cookie: sessionCookie(request), caller: context.caller), afterPost: false)
    }

    func showLogin(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let problem = RequestReading.query(request)?.values("error").first.flatMap(LoginProblem.init(rawValue:))
        return render(
            try await oauth.loginPage(transactionID: transactionID(request), cookie: sessionCookie(request), problem: problem),
            afterPost: false)
    }

    func submitLogin(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let form = try? await RequestReading.form(request)
        return render(
            try await oauth.login(
                form.map(LoginForm.init(form:)), transactionID: transactionID(request),
                cookie: sessionCookie(request), caller: context.caller), afterPost: true)
    }

    func startUpstreamSignIn(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let form = try? await RequestReading.form(request)
        return render(
            try await oauth.startUpstreamSignIn(
                form.map(UpstreamSignInForm.init(form:)), transactionID: transactionID(request),
                cookie: sessionCookie(request), caller: context.caller), afterPost: true)
    }

    func finishUpstreamSignIn(_ request: Request, context: PixyRequestContext) async throws -> Response {
        guard (request.uri.query?.utf8.count ?? 0) <= Self.maximumAuthorizationQuery else {
            return errorPage(.invalidRequest("The sign-in response is too long."))
        }
        return render(
            try await oauth.finishUpstreamSignIn(
                provider: context.parameters.get("provider") ?? "", query: RequestReading.query(request),
                cookie: sessionCookie(request), caller: context.caller), afterPost: false)
    }

    func showConsent(_ request: Request, context: PixyRequestContext) async throws -> Response {
        render(try await oauth.consentPage(transactionID: transactionID(request), cookie: sessionCookie(request)), afterPost: false)
    }

    func submitConsent(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let form = try? await RequestReading.form(request)
        return render(
            try await oauth.consent(
                form.map(ConsentForm.init(form:)), transactionID: transactionID(request),
                cookie: sessionCookie(request), caller: context.caller), afterPost: true)
    }

    func showLogout(_ request: Request, context: PixyRequestContext) async throws -> Response {
        render(try await oauth.signOutPage(transactionID: transactionID(request), cookie: sessionCookie(request)), afterPost: false)
    }

    func submitLogout(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let form = try? await RequestReading.form(request)
        return render(
            try await oauth.signOut(
                form.map(SignOutForm.init(form:)), transactionID: transactionID(request),
                cookie: sessionCookie(request)), afterPost: true)
    }

    // MARK: Decoding

    /// The session cookie's value, when the browser sent it exactly once.
    func sessionCookie(_ request: Request) -> String? { RequestReading.cookie(request, named: cookie.name) }

    /// The `tx` query parameter: which waiting request a page is for.
    func transactionID(_ request: Request) -> String? { RequestReading.query(request)?.values("tx").first }

    // MARK: Rendering

    /// The response for an interaction result. A redirect to the client is `302 Found` from
    /// `GET /authorize` (RFC 6749 §4.1.2) and `303 See Other` after a POST, never 307, which
    /// would post the password again (docs/security.md §8).
    func render(_ result: InteractionResult, afterPost: Bool) -> Response {
        var response: Response
        switch result.next {
        case .client(let location):
            response = Responses.redirect(to: location, status: afterPost ? .seeOther : .found)
        case .upstream(let location):
            response = Responses.redirect(to: location, status: .seeOther)
        case .step(let step, let transactionID, let problem):
            var location = step == .login ? paths.login : paths.consent
            if let transactionID {
                location += "?tx=\(transactionID)"
                if let problem { location += "&error=\(problem.rawValue)" }
            }
            response = Responses.redirect(to: location, status: .seeOther)
        case .errorPage(let error, let continueURL):
            response = errorPage(error, continueURL: continueURL)
        case .forgedForm(let error):
            response = errorPage(error)
            response.status = .forbidden
        case .login(let page):
            response = Responses.html(
                pages.login(
                    clientName: page.clientName, action: "\(paths.login)?tx=\(page.transactionID)", csrfToken: page.csrfToken,
                    errorMessage: page.problem.map(Self.message(for:)), isUnverified: page.isUnverified, metadataHost: page.metadataHost,
                    providers: page.providers, providerAction: "\(paths.upstreamStart)?tx=\(page.transactionID)",
                    showsPasswordForm: page.showsPasswordForm))
        case .consent(let page):
            response = Responses.html(
                pages.consent(
                    .init(
                        clientName: page.clientName, clientID: page.clientID, username: page.username, redirectHost: page.redirectHost,
                        scopes: page.scopes.map { (name: $0.name, isNew: $0.isNew) }, resource: page.resource,
                        isUnverified: page.isUnverified, metadataHost: page.metadataHost,
                        action: "\(paths.consent)?tx=\(page.transactionID)", csrfToken: page.csrfToken,
                        logoutURL: "\(paths.logout)?tx=\(page.transactionID)")))
        case .signOut(.signedOut(let afterSignOut)):
            response = Responses.html(
                pages.signedOut(
                    title: "You are signed out", action: paths.logout, csrfToken: nil,
                    lead: afterSignOut ? "Return to the application to sign in again." : nil))
        case .signOut(.confirm(let csrfToken, let transactionID, let clientName)):
            response = Responses.html(
                pages.signedOut(
                    title: "Sign out of \(pages.branding.name)?", action: paths.logout + (transactionID.map { "?tx=\($0)" } ?? ""),
                    csrfToken: csrfToken, lead: clientName.map { "Then sign in as yourself to continue to \($0)." }))
        }
        switch result.cookie {
        case .set(let value, let maxAge)?: response.headers[.setCookie] = cookie.setCookie(value, maxAge: maxAge)
        case .clear?: response.headers[.setCookie] = cookie.expired
        case nil: break
        }
        return response
    }

    /// What the login page says for each problem.
    static func message(for problem: LoginProblem) -> String {
        switch problem {
        case .invalid: "The username or password is incorrect."
        case .throttled: "Too many failed attempts. Wait a few minutes and try again."
        case .busy: "The server is busy checking other sign-ins. Try again in a moment."
        case .expired: "Your sign-in form expired. Please try again."
        case .upstreamUnavailable: "The identity provider could not be reached. Try again in a moment."
        case .upstreamFailed: "Signing in at the identity provider did not succeed. Try again."
        case .notAllowed: "This account may not sign in here. Ask the administrator for access."
        case .passwordsOff: "Sign in with one of the identity providers below."
        }
    }
}
