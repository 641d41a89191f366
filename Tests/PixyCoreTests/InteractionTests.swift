import Foundation
import Logging
import PixyCore
import PixyModel
import PixyTesting
import Testing

/// Checks passwords by comparing text: the interaction rules are under test here, not bcrypt.
struct PlainPasswords: PasswordHashing {
    func hash(_ password: String) async throws -> String { "plain:" + password }
    func verify(_ password: String, hash: String) async throws -> Bool { hash == "plain:" + password }
}

/// An ``OAuthServer`` over the core fixture, with a browser that keeps its session cookie and
/// follows the server's answers, so the login and consent rules run without HTTP.
struct InteractionFixture {
    let core: CoreFixture
    let server: OAuthServer
    let caller = Caller(source: "192.0.2.1", logger: Logger(label: "test"))
    static let password = "correct horse"

    init(policy: ServerPolicy? = nil) async throws {
        core = try await CoreFixture()
        try await core.store.save(User(id: "user-2", username: "bob", passwordHash: "plain:" + Self.password, createdAt: core.clock.now()))
        try await core.store.save(
            Client(
                clientID: "first-party", redirectURIs: [CoreFixture.redirect], isConsentSkipped: true,
                createdAt: core.clock.now()))
        try await core.store.save(
            Client(
                clientID: "registered", redirectURIs: [CoreFixture.redirect],
                tokenEndpointAuthMethod: .clientSecretBasic, secretHash: SecretHash.sha256Hex("x"),
                isDynamicallyRegistered: true, createdAt: core.clock.now()))
        let limits = OAuthServer.Limits(
            loginThrottle: LoginThrottle(clock: core.clock),
            registration: RateLimiter(clock: core.clock, burst: 10, refillPerSecond: 1),
            clock: core.clock, buckets: PixyStores(core.store).tokenBuckets)
        server = try await OAuthServer(
            stores: PixyStores(core.store), policy: policy ?? core.policy, clock: core.clock,
            tokenIssuer: RecordingTokenIssuer(), tokenVerifier: RecordingTokenIssuer(),
            passwords: PlainPasswords(), limits: limits)
    }

    /// A browser: the cookie it holds, updated by every answer.
    final class Browser: @unchecked Sendable {
        var cookie: String?

        func keep(_ result: InteractionResult) -> InteractionResult {
            switch result.cookie {
            case .set(let value, _)?: cookie = value
            case .clear?: cookie = nil
            case nil: break
            }
            return result
        }
    }

    func authorize(_ browser: Browser, _ changes: [String: String?] = [:]) async throws -> InteractionResult {
        browser.keep(try await server.authorize(CoreFixture.parameters(changes), cookie: browser.cookie, caller: caller))
    }

    func login(
        _ browser: Browser, transactionID: String?, username: String = "bob", password: String = password,
        csrf: String? = nil
    ) async throws -> InteractionResult {
        let page = try await server.loginPage(transactionID: transactionID, cookie: browser.cookie, problem: nil)
        let token: String? = if case .login(let login) = page.next { login.csrfToken } else { nil }
        let form = LoginForm(csrfToken: csrf ?? token, username: username, password: password)
        return browser.keep(try await server.login(form, transactionID: transactionID, cookie: browser.cookie, caller: caller))
    }

    func consentPage(_ browser: Browser, transactionID: String?) async throws -> ConsentPage? {
        let result = try await server.consentPage(transactionID: transactionID, cookie: browser.cookie)
        if case .consent(let page) = result.next { return page }
        return nil
    }

    func decide(_ browser: Browser, transactionID: String?, _ decision: String, csrf: String? = nil) async throws -> InteractionResult {
        let token = try await consentPage(browser, transactionID: transactionID)?.csrfToken
        return browser.keep(
            try await server.consent(
                ConsentForm(csrfToken: csrf ?? token, decision: decision),
                transactionID: transactionID, cookie: browser.cookie, caller: caller))
    }

    /// Signs `browser` in through a first request for `clientID`, and approves it when asked.
    func signIn(_ browser: Browser, clientID: String = "app", scope: String = "read") async throws -> InteractionResult {
        let first = try await authorize(browser, ["client_id": clientID, "scope": scope])
        guard case .step(.login, let tx?, _) = first.next else { return first }
        let afterLogin = try await login(browser, transactionID: tx)
        guard case .step(.consent, let consentTX?, _) = afterLogin.next else { return afterLogin }
        return try await decide(browser, transactionID: consentTX, "approve")
    }
}

extension InteractionResult {
    /// The transaction id of a step, if the result is one.
    var transactionID: String? {
        if case .step(_, let tx, _) = next { return tx }
        return nil
    }

    /// The step the browser is sent to, if any.
    var step: InteractionStep? {
        if case .step(let step, _, _) = next { return step }
        return nil
    }

    /// The query parameters of a redirect to the client.
    var clientParameters: [String: String]? {
        guard case .client(let location) = next, let query = location.split(separator: "?", maxSplits: 1).last,
            let form = FormParameters(urlEncoded: String(query))
        else { return nil }
        return Dictionary(form.pairs.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
    }
}

@Suite("RFC 6749 §4.1.1: when the user must sign in and approve (OAuthServer, no HTTP)")
struct InteractionDecisionTests {
    @Test("OpenID Connect Core §3.1.2.6: prompt=none answers login_required, then consent_required, by redirect")
    func promptNone() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let signedOut = try await fixture.authorize(browser, ["prompt": "none"])
        #expect(signedOut.clientParameters?["error"] == "login_required")
        _ = try await fixture.signIn(browser)
        let unapproved = try await fixture.authorize(browser, ["prompt": "none", "scope": "read write"])
        #expect(unapproved.clientParameters?["error"] == "consent_required")
    }

    @Test("Nobody signed in: the request waits for the login page; prompt=login asks again when signed in")
    func loginRequirement() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser)
        #expect(first.step == .login)
        #expect(browser.cookie != nil, "the waiting request is bound to a new session")
        _ = try await fixture.signIn(browser, clientID: "first-party")
        let again = try await fixture.authorize(browser, ["client_id": "first-party", "prompt": "login"])
        #expect(again.step == .login)
    }

    @Test("A first-party --skip-consent client gets its code straight after sign-in")
    func skipConsent() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let result = try await fixture.signIn(browser, clientID: "first-party")
        #expect(result.clientParameters?["code"] != nil)
        let again = try await fixture.authorize(browser, ["client_id": "first-party"])
        #expect(again.clientParameters?["code"] != nil, "signed in: no page at all")
    }

    @Test("RFC 8252 §8.6: a confidential client's consent is remembered; a wider scope asks again, marking only what is new")
    func rememberedConsentAndStepUp() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.signIn(browser, clientID: "secret-basic", scope: "read")
        #expect(first.clientParameters?["code"] != nil)
        let again = try await fixture.authorize(browser, ["client_id": "secret-basic", "scope": "read"])
        #expect(again.clientParameters?["code"] != nil, "remembered: straight back to the client")

        let stepUp = try await fixture.authorize(browser, ["client_id": "secret-basic", "scope": "read write"])
        #expect(stepUp.step == .consent)
        let page = try #require(try await fixture.consentPage(browser, transactionID: stepUp.transactionID))
        #expect(page.scopes == [.init(name: "read", isNew: false), .init(name: "write", isNew: true)])
        let approved = try await fixture.decide(browser, transactionID: stepUp.transactionID, "approve")
        #expect(approved.clientParameters?["code"] != nil)
        let union = try await fixture.authorize(browser, ["client_id": "secret-basic", "scope": "write read"])
        #expect(union.clientParameters?["code"] != nil, "the union of old and new scopes is remembered")
        let forced = try await fixture.authorize(browser, ["client_id": "secret-basic", "scope": "read", "prompt": "consent"])
        #expect(forced.step == .consent, "prompt=consent always asks")
    }

    @Test("RFC 8252 §8.6: public and dynamically registered clients always see the consent page")
    func publicAndDynamicClientsAlwaysAsked() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        _ = try await fixture.signIn(browser, clientID: "app")
        let again = try await fixture.authorize(browser, ["client_id": "app"])
        #expect(again.step == .consent)

        let first = try await fixture.authorize(browser, ["client_id": "registered"])
        let approved = try await fixture.decide(browser, transactionID: first.transactionID, "approve")
        #expect(approved.clientParameters?["code"] != nil)
        let dynamicAgain = try await fixture.authorize(browser, ["client_id": "registered"])
        #expect(dynamicAgain.step == .consent)
        #expect(try await fixture.core.store.consent(userID: "user-2", clientID: "registered", resource: nil) == nil)
    }

    @Test("A denial remembers nothing")
    func denialRemembersNothing() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser, ["client_id": "secret-basic"])
        let afterLogin = try await fixture.login(browser, transactionID: first.transactionID)
        let denied = try await fixture.decide(browser, transactionID: afterLogin.transactionID, "deny")
        #expect(denied.clientParameters?["error"] == "access_denied")
        #expect(try await fixture.core.store.consent(userID: "user-2", clientID: "secret-basic", resource: nil) == nil)
        let asksAgain = try await fixture.authorize(browser, ["client_id": "secret-basic"])
        #expect(asksAgain.step == .consent, "a denial is not remembered")
    }
}

@Suite("docs/security.md §8: the login and consent rules (OAuthServer, no HTTP)")
struct InteractionSecurityTests {
    @Test("§8: login rotates the session (no fixation), and the waiting request moves with it")
    func loginRotatesSession() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser)
        let before = try #require(browser.cookie)
        let afterLogin = try await fixture.login(browser, transactionID: first.transactionID)
        #expect(afterLogin.step == .consent)
        #expect(browser.cookie != nil && browser.cookie != before)
        #expect(
            try await fixture.server.loginPage(transactionID: first.transactionID, cookie: before, problem: nil).isErrorPage,
            "the old cookie no longer reaches the request")
        #expect(try await fixture.consentPage(browser, transactionID: afterLogin.transactionID) != nil)
    }

    @Test("§8: an unknown user and a wrong password get the same answer; neither signs in")
    func noUserEnumeration() async throws {
        let fixture = try await InteractionFixture()
        for (username, password) in [("nobody", "x"), ("bob", "wrong")] {
            let browser = InteractionFixture.Browser()
            let first = try await fixture.authorize(browser)
            let cookie = browser.cookie
            let result = try await fixture.login(browser, transactionID: first.transactionID, username: username, password: password)
            guard case .step(.login, let tx, .invalid) = result.next else {
                Issue.record("\(username): \(result.next)")
                continue
            }
            #expect(tx == first.transactionID)
            #expect(browser.cookie == cookie, "no new session")
        }
    }

    @Test("§8: failed logins are throttled per account before the password is checked")
    func throttled() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser)
        var problems: [LoginProblem?] = []
        for _ in 0..<6 {
            let result = try await fixture.login(browser, transactionID: first.transactionID, password: "wrong")
            if case .step(.login, _, let problem) = result.next { problems.append(problem) }
        }
        #expect(problems == [.invalid, .invalid, .invalid, .invalid, .invalid, .throttled])
        let right = try await fixture.login(browser, transactionID: first.transactionID)
        #expect(right.step == .login, "the right password is refused too while throttled")
    }

    @Test("§8: a login POST with a wrong CSRF token is sent back as expired and checks no password")
    func loginCSRF() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser)
        let result = try await fixture.login(browser, transactionID: first.transactionID, csrf: "forged")
        guard case .step(.login, _, .expired) = result.next else {
            Issue.record("\(result.next)")
            return
        }
        #expect(result.cookie == nil)
    }

    @Test("§8: a consent POST with a foreign CSRF token is a forged form and consumes nothing")
    func consentCSRF() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser)
        let afterLogin = try await fixture.login(browser, transactionID: first.transactionID)
        let forged = try await fixture.decide(browser, transactionID: afterLogin.transactionID, "approve", csrf: "forged")
        guard case .forgedForm = forged.next else {
            Issue.record("\(forged.next)")
            return
        }
        let genuine = try await fixture.decide(browser, transactionID: afterLogin.transactionID, "approve")
        #expect(genuine.clientParameters?["code"] != nil, "the request is still waiting")
    }

    @Test("§8: an approval is used once; a replayed consent POST yields no second code")
    func approvalUsedOnce() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        let first = try await fixture.authorize(browser)
        let afterLogin = try await fixture.login(browser, transactionID: first.transactionID)
        let tx = afterLogin.transactionID
        let csrf = try #require(try await fixture.consentPage(browser, transactionID: tx)?.csrfToken)
        let approved = try await fixture.decide(browser, transactionID: tx, "approve", csrf: csrf)
        #expect(approved.clientParameters?["code"] != nil)
        let replay = try await fixture.decide(browser, transactionID: tx, "approve", csrf: csrf)
        #expect(replay.clientParameters == nil)
    }

    @Test("§8: a waiting request is bound to its browser: another session cannot see or approve it")
    func boundToBrowser() async throws {
        let fixture = try await InteractionFixture()
        let victim = InteractionFixture.Browser()
        let first = try await fixture.authorize(victim)
        let attacker = InteractionFixture.Browser()
        _ = try await fixture.signIn(attacker, clientID: "first-party")
        #expect(try await fixture.server.loginPage(transactionID: first.transactionID, cookie: attacker.cookie, problem: nil).isErrorPage)
        #expect(try await fixture.consentPage(attacker, transactionID: first.transactionID) == nil)
    }

    @Test("docs/security.md §7: a signed-out session holds at most 16 waiting requests; the 17th starts a fresh session")
    func pendingCap() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        _ = try await fixture.authorize(browser)
        let firstCookie = browser.cookie
        for _ in 2...16 {
            _ = try await fixture.authorize(browser)
            #expect(browser.cookie == firstCookie)
        }
        _ = try await fixture.authorize(browser)
        #expect(browser.cookie != firstCookie)
    }

    @Test("docs/security.md §7: past the per-source burst, /authorize is rate-limited with a wait")
    func authorizationRateLimit() async throws {
        let fixture = try await InteractionFixture()
        var limited: OAuthError?
        for _ in 0..<61 {
            let result = try await fixture.authorize(InteractionFixture.Browser())
            if case .errorPage(let error, _) = result.next { limited = error }
        }
        let error = try #require(limited)
        #expect(error.code == .temporarilyUnavailable)
        #expect(error.condition == .rateLimited(retryAfter: 1))
    }

    @Test("Signing out with a waiting request moves it to a fresh signed-out session and back to its login page")
    func signOutKeepsWaitingRequest() async throws {
        let fixture = try await InteractionFixture()
        let browser = InteractionFixture.Browser()
        _ = try await fixture.signIn(browser, clientID: "first-party")
        let waiting = try await fixture.authorize(browser, ["client_id": "app"])
        #expect(waiting.step == .consent)
        let page = try await fixture.server.signOutPage(transactionID: waiting.transactionID, cookie: browser.cookie)
        guard case .signOut(.confirm(let csrf, let tx, _)) = page.next else {
            Issue.record("\(page.next)")
            return
        }
        let forged = try await fixture.server.signOut(SignOutForm(csrfToken: "forged"), transactionID: tx, cookie: browser.cookie)
        guard case .forgedForm = forged.next else {
            Issue.record("\(forged.next)")
            return
        }
        let signedOut = browser.keep(
            try await fixture.server.signOut(SignOutForm(csrfToken: csrf), transactionID: tx, cookie: browser.cookie))
        #expect(signedOut.step == .login)
        #expect(signedOut.transactionID == waiting.transactionID)
        let again = try await fixture.login(browser, transactionID: waiting.transactionID)
        #expect(again.step == .consent, "signed in again, the same request continues")
    }
}

extension InteractionResult {
    var isErrorPage: Bool {
        if case .errorPage = next { return true }
        return false
    }
}
