import Foundation
import Hummingbird
import PixyCore

/// The connected-apps page (`/account/apps`), its sign-in form and its revoke button: decode, ask
/// ``OAuthServer``, render. Every decision is PixyCore's (`OAuthServer+ConnectedApps.swift`).
extension AuthorizationServer {
    func showConnectedApps(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let query = RequestReading.query(request)
        let notice = query?.values("done").first.flatMap(OAuthServer.AccountNotice.init(rawValue:))
        let problem = query?.values("error").first.flatMap(LoginProblem.init(rawValue:))
        return render(
            try await oauth.connectedAppsPage(cookie: sessionCookie(request), notice: notice, problem: problem, caller: context.caller))
    }

    func submitAccountSignIn(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let form = try? await RequestReading.form(request)
        return render(
            try await oauth.accountSignIn(form.map(LoginForm.init(form:)), cookie: sessionCookie(request), caller: context.caller))
    }

    func submitRevokeApp(_ request: Request, context: PixyRequestContext) async throws -> Response {
        let form = try? await RequestReading.form(request)
        return render(
            try await oauth.revokeConnectedApp(form.map(RevokeAppForm.init(form:)), cookie: sessionCookie(request), caller: context.caller))
    }

    /// The response for an account result: pages are rendered, a finished POST goes back to the
    /// page with `303 See Other` (never 307, which would post again).
    func render(_ result: OAuthServer.AccountResult) -> Response {
        var response: Response
        let cookieChange: SessionCookieChange?
        switch result {
        case .apps(let page, let change):
            cookieChange = change
            response = Responses.html(pages.connectedApps(page, revokeAction: paths.accountRevoke, signOutURL: paths.logout))
        case .signIn(let page, let change):
            cookieChange = change
            let message =
                page.showsPasswordForm
                ? page.problem.map(Self.message(for:))
                : "Sign in through one of your applications first, then open this page again."
            response = Responses.html(
                pages.login(
                    clientName: "your connected apps", action: paths.accountLogin, csrfToken: page.csrfToken, errorMessage: message,
                    isUnverified: false, metadataHost: nil, showsPasswordForm: page.showsPasswordForm))
        case .showApps(let notice, let change):
            cookieChange = change
            response = Responses.redirect(
                to: paths.accountApps + (notice.map { "?done=\($0.rawValue)" } ?? ""), status: .seeOther)
        case .retrySignIn(let problem):
            cookieChange = nil
            response = Responses.redirect(to: paths.accountApps + "?error=\(problem.rawValue)", status: .seeOther)
        case .forgedForm(let error):
            cookieChange = nil
            response = errorPage(error)
            response.status = .forbidden
        case .errorPage(let error):
            cookieChange = nil
            response = errorPage(error)
        }
        switch cookieChange {
        case .set(let value, let maxAge)?: response.headers[.setCookie] = cookie.setCookie(value, maxAge: maxAge)
        case .clear?: response.headers[.setCookie] = cookie.expired
        case nil: break
        }
        return response
    }
}
