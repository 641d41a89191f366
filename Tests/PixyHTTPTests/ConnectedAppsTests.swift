import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
import PixyHTTP
import PixyModel
import PixyServer
import PixyTesting
import Testing

@Suite("docs/threat-model.md, Connected apps: a user sees and revokes what they approved")
struct ConnectedAppsTests {
    static let crm = ClientID("crm")
    static let crmSecret = "crm-secret-value"
    static let notes = ClientID("notes")

    /// The harness with two clients that get refresh tokens: a confidential one (its consent is
    /// remembered) and a public one.
    static func harness() async throws -> TestHarness {
        let harness = try await TestHarness.make()
        try await harness.stores.clients.save(
            Client(
                clientID: crm, clientName: "CRM <Sync>", redirectURIs: [TestHarness.redirectURI],
                tokenEndpointAuthMethod: .clientSecretBasic,
                secretHash: SecretHash.sha256Hex(crmSecret), grantTypes: [.authorizationCode, .refreshToken], createdAt: harness.clock.now()
            ))
        try await harness.stores.clients.save(
            Client(
                clientID: notes, clientName: "Notes", redirectURIs: ["http://127.0.0.1/cb"],
                grantTypes: [.authorizationCode, .refreshToken],
                createdAt: harness.clock.now()))
        return harness
    }

    static var crmBasic: String {
        "Basic " + Data("\(crm.rawValue):\(crmSecret)".utf8).base64EncodedString()
    }

    /// The flow for `clientID` in `browser`; the token response.
    static func connect(_ client: some TestClientProtocol, _ browser: Browser, _ clientID: ClientID) async throws -> [String: Any] {
        let redirect = clientID == crm ? TestHarness.redirectURI : "http://127.0.0.1/cb"
        let (query, pkce) = TestHarness.authorizeQuery(
            clientID: clientID, redirectURI: redirect, scope: "read", extra: [("resource", "https://mcp.example.com/mcp")])
        let code = try #require(try await browser.authorize(client, query: query).locationParameters["code"])
        var form = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value)]
        if clientID != crm { form.append(("client_id", clientID.rawValue)) }
        return try json(try await tokenRequest(client, form, authorization: clientID == crm ? crmBasic : nil))
    }

    static func refresh(_ client: some TestClientProtocol, _ clientID: ClientID, _ token: String) async throws -> TestResponse {
        var form = [("grant_type", "refresh_token"), ("refresh_token", token)]
        if clientID != crm { form.append(("client_id", clientID.rawValue)) }
        return try await tokenRequest(client, form, authorization: clientID == crm ? crmBasic : nil)
    }

    /// Signs `browser` in at the account page as `username`.
    static func signIn(
        _ client: some TestClientProtocol, _ browser: Browser, username: String = TestHarness.username,
        password: String = TestHarness.password
    ) async throws -> TestResponse {
        let page = try await browser.get(client, "/account/apps")
        #expect(page.status == .ok)
        #expect(page.text.contains(#"action="/account/login""#))
        return try await browser.post(
            client, "/account/login", form: [("username", username), ("password", password), ("csrf_token", try page.csrfToken())])
    }

    @Test(
        "Connected apps: revoking an app ends its refresh tokens and access tokens at once, forgets the remembered consent, and leaves other apps alone"
    )
    func revokingAnApp() async throws {
        let harness = try await Self.harness()
        let metrics = PixyMetrics()
        try await harness.application(metrics: metrics).test(.router) { client in
            let app = Browser()
            let crmTokens = try await Self.connect(client, app, Self.crm)
            let notesTokens = try await Self.connect(client, Browser(), Self.notes)
            let crmRefresh = try #require(crmTokens["refresh_token"] as? String)
            let crmAccess = try #require(crmTokens["access_token"] as? String)
            let notesRefresh = try #require(notesTokens["refresh_token"] as? String)
            let (again, _) = TestHarness.authorizeQuery(
                clientID: Self.crm, scope: "read", extra: [("resource", "https://mcp.example.com/mcp")])
            let remembered = try await app.get(client, "/authorize?\(again)")
            #expect(remembered.locationParameters["code"] != nil, "the confidential client's consent is remembered")

            let account = Browser()
            let signedIn = try await Self.signIn(client, account)
            #expect(signedIn.status == .seeOther)
            #expect(signedIn.headers[.location] == "/account/apps")
            let page = try await account.get(client, "/account/apps")
            #expect(page.text.contains(#"data-client-id="crm""#) && page.text.contains(#"data-client-id="notes""#))
            #expect(page.text.contains("CRM &lt;Sync&gt;"), "names are escaped")
            #expect(page.text.contains("app.example.com") && page.text.contains("https://mcp.example.com/mcp"))
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(page.headers[.init("X-Frame-Options")!] == "DENY")

            let revoked = try await account.post(
                client, "/account/apps/revoke", form: [("client_id", Self.crm.rawValue), ("csrf_token", try page.csrfToken())])
            #expect(revoked.status == .seeOther)
            #expect(revoked.headers[.location] == "/account/apps?done=revoked")
            let after = try await account.get(client, try #require(revoked.headers[.location]))
            #expect(!after.text.contains(#"data-client-id="crm""#) && after.text.contains(#"data-client-id="notes""#))
            #expect(after.text.contains("Access revoked"))

            #expect(try json(try await Self.refresh(client, Self.crm, crmRefresh))["error"] as? String == "invalid_grant")
            #expect(try await introspect(client, crmAccess).text == #"{"active":false}"#)
            #expect(try await Self.refresh(client, Self.notes, notesRefresh).status == .ok, "the other app keeps working")
            let (asked, _) = TestHarness.authorizeQuery(
                clientID: Self.crm, scope: "read", extra: [("resource", "https://mcp.example.com/mcp")])
            let consentAgain = try await app.get(client, "/authorize?\(asked)")
            #expect(consentAgain.headers[.location]?.hasPrefix("/consent") == true, "the remembered consent is forgotten")
        }
        let scraped = Exposition(metrics.exposition())
        #expect(scraped.value("pixy_families_revoked_total", [("reason", "user")]) == 1)
        #expect(scraped.value("pixy_connected_apps_revoked_total") == 1)
    }

    @Test("Connected apps: forged forms are refused (403), a user cannot revoke another user's app, and signing in starts a new session")
    func forgeriesAndOtherUsers() async throws {
        let harness = try await Self.harness()
        try await harness.stores.users.save(
            User(
                id: "user-2", username: "bob", passwordHash: try await BcryptPasswordHasher(cost: 10).hash("bob's password"),
                createdAt: harness.clock.now()))
        try await harness.application().test(.router) { client in
            let aliceTokens = try await Self.connect(client, Browser(), Self.notes)
            let aliceRefresh = try #require(aliceTokens["refresh_token"] as? String)

            let bob = Browser()
            let page = try await bob.get(client, "/account/apps")
            let anonymous = bob.cookie
            let forged = try await bob.post(
                client, "/account/login", form: [("username", "bob"), ("password", "bob's password"), ("csrf_token", "forged")])
            #expect(forged.status == .forbidden)
            let wrong = try await bob.post(
                client, "/account/login", form: [("username", "bob"), ("password", "nope"), ("csrf_token", try page.csrfToken())])
            #expect(wrong.headers[.location] == "/account/apps?error=invalid")
            #expect(try await bob.get(client, "/account/apps?error=invalid").text.contains("incorrect"))
            let signedIn = try await bob.post(
                client, "/account/login", form: [("username", "bob"), ("password", "bob's password"), ("csrf_token", try page.csrfToken())])
            #expect(signedIn.headers[.location] == "/account/apps")
            #expect(bob.cookie != anonymous, "a new session on sign-in (no fixation)")
            let bobsPage = try await bob.get(client, "/account/apps")
            #expect(!bobsPage.text.contains("data-client-id"), "bob sees none of alice's apps")
            #expect(bobsPage.text.contains("No application"))
            // Bob has no revoke form of his own; his session's token is on the sign-out page.
            let bobsToken = try await bob.get(client, "/logout").csrfToken()

            let noToken = try await bob.post(client, "/account/apps/revoke", form: [("client_id", Self.notes.rawValue)])
            #expect(noToken.status == .forbidden)
            let stale = try await bob.post(
                client, "/account/apps/revoke", form: [("client_id", Self.notes.rawValue), ("csrf_token", try page.csrfToken())])
            #expect(stale.status == .forbidden, "the anonymous session's token is not the signed-in session's")
            let notHis = try await bob.post(
                client, "/account/apps/revoke", form: [("client_id", Self.notes.rawValue), ("csrf_token", bobsToken)])
            #expect(notHis.headers[.location] == "/account/apps?done=not_connected")
            #expect(try await Self.refresh(client, Self.notes, aliceRefresh).status == .ok, "alice's app is untouched")

            let nobody = Browser()
            let unsigned = try await nobody.post(client, "/account/apps/revoke", form: [("client_id", Self.notes.rawValue)])
            #expect(unsigned.headers[.location] == "/account/apps", "not signed in: back to the page, which asks to sign in")
        }
    }
}
