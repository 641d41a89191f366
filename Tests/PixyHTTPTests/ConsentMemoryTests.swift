import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
import PixyModel
import PixyTesting
import Testing

@Suite("Consent memory and step-up (issue 3 §5-6, RFC 8252 §8.6)")
struct ConsentMemoryTests {
    @Test("A pre-registered confidential client's consent is remembered; a wider scope asks again, marking only what is new")
    func rememberedAndStepUp() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            let clientID = TestHarness.confidentialClientID
            let first = try await browser.authorize(client, query: TestHarness.authorizeQuery(clientID: clientID, scope: "read").query)
            #expect(first.locationParameters["code"] != nil)

            let again = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(clientID: clientID, scope: "read").query)")
            #expect(again.status == .found, "remembered: straight back to the client")
            #expect(again.locationParameters["code"] != nil)

            let stepUp = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(clientID: clientID, scope: "read write").query)")
            let consentPath = try #require(stepUp.headers[.location])
            #expect(consentPath.hasPrefix("/consent"))
            let page = try await browser.get(client, consentPath)
            #expect(page.text.contains(#"<code>write</code> <strong class="new">new</strong>"#))
            #expect(!page.text.contains(#"<code>read</code> <strong class="new">"#))
            let approved = try await browser.post(client, try page.formAction(), form: [("csrf_token", try page.csrfToken()), ("decision", "approve")])
            #expect(approved.locationParameters["code"] != nil)

            let union = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(clientID: clientID, scope: "write read").query)")
            #expect(union.locationParameters["code"] != nil, "the union of old and new scopes is remembered")
            let forced = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(clientID: clientID, scope: "read", extra: [("prompt", "consent")]).query)")
            #expect(forced.headers[.location]?.hasPrefix("/consent") == true, "prompt=consent always asks")
        }
    }

    @Test("RFC 8252 §8.6: public and dynamically registered clients always see the consent page")
    func neverRememberedForPublicOrDynamic() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            _ = try await browser.authorize(client, query: TestHarness.authorizeQuery(scope: "read").query)
            let publicAgain = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(scope: "read").query)")
            #expect(publicAgain.headers[.location]?.hasPrefix("/consent") == true)

            let registered = try json(try await client.execute(
                uri: "/register", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"redirect_uris":["https://app.example.com/callback"],"token_endpoint_auth_method":"client_secret_basic"}"#)))
            let dynamicID = ClientID(try #require(registered["client_id"] as? String))
            let first = try await browser.authorize(client, query: TestHarness.authorizeQuery(clientID: dynamicID, scope: "read").query)
            #expect(first.locationParameters["code"] != nil)
            let dynamicAgain = try await browser.get(client, "/authorize?\(TestHarness.authorizeQuery(clientID: dynamicID, scope: "read").query)")
            #expect(dynamicAgain.headers[.location]?.hasPrefix("/consent") == true)
            #expect(try await harness.store.consent(userID: harness.user.id, clientID: dynamicID, resource: nil) == nil)
        }
    }

    @Test("A denial remembers nothing")
    func denialRemembersNothing() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let browser = Browser()
            _ = try await browser.authorize(client, query: TestHarness.authorizeQuery(clientID: TestHarness.confidentialClientID, scope: "read").query,
                                            decision: "deny")
            #expect(try await harness.store.consent(userID: harness.user.id, clientID: TestHarness.confidentialClientID, resource: nil) == nil)
        }
    }
}
