import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
import PixyModel
import PixyServer
import PixyTesting
import Synchronization
import Testing

/// The samples of a Prometheus exposition: `name{labels}` → value.
struct Exposition {
    let text: String
    let samples: [String: Double]

    init(_ text: String) {
        self.text = text
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    /// The value of `name` with exactly `labels` (in the order Pixy writes them); 0 when absent.
    func value(_ name: String, _ labels: [(String, String)] = []) -> Double {
        let key = labels.isEmpty ? name : name + "{" + labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "}"
        return samples[key] ?? 0
    }

    /// Every label value of every sample.
    var labelValues: [String] {
        samples.keys.flatMap { key -> [String] in
            guard let open = key.firstIndex(of: "{") else { return [] }
            return key[key.index(after: open)...].split(separator: ",").compactMap { pair in
                pair.split(separator: "=", maxSplits: 1).last.map { String($0.filter { $0 != "\"" && $0 != "}" }) }
            }
        }
    }
}

@Suite("docs/operations.md, Metrics: what the counters say after scripted traffic")
struct MetricsTests {
    @Test(
        "Metrics: token outcomes by grant type, a code replay, a refresh reuse, the families they end, sign-ins, consents, registrations; no secret in a label"
    )
    func countersFollowTheTraffic() async throws {
        let harness = try await TestHarness.make()
        let metrics = PixyMetrics()
        let seen = try await harness.application(metrics: metrics).test(.router) { client -> [String] in
            let registration =
                #"{"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"MCP"}"#
            var clientID = ""
            for _ in 0..<2 {
                let registered = try await client.execute(
                    uri: "/register", method: .post, headers: [.contentType: "application/json", .userAgent: "python-httpx/0.28"],
                    body: ByteBuffer(string: registration))
                clientID = try #require(try json(registered)["client_id"] as? String)
            }
            // A wrong password once, then the flow.
            let (query, pkce) = TestHarness.authorizeQuery(clientID: ClientID(clientID), redirectURI: "http://127.0.0.1:4000/callback")
            let refused = try await Browser().authorize(client, query: query, password: "not the password")
            #expect(refused.headers[.location]?.contains("error=invalid") == true)
            let code = try #require(try await Browser().authorize(client, query: query).locationParameters["code"])
            let redeem = [
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", pkce.verifier.value), ("client_id", clientID),
            ]
            let tokens = try json(try await tokenRequest(client, redeem))
            let rt1 = try #require(tokens["refresh_token"] as? String)
            let rt2 = try #require(
                try json(
                    try await tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", rt1), ("client_id", clientID)]))[
                        "refresh_token"] as? String)
            _ = try await tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", rt2), ("client_id", clientID)])
            let reuse = try await tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", rt1), ("client_id", clientID)])
            #expect(try json(reuse)["error"] as? String == "invalid_grant")
            // A second flow, its code replayed by its own client: the family it started ends.
            let (second, secondPKCE) = TestHarness.authorizeQuery(
                clientID: ClientID(clientID), redirectURI: "http://127.0.0.1:4000/callback")
            let secondCode = try #require(try await Browser().authorize(client, query: second).locationParameters["code"])
            let secondRedeem = [
                ("grant_type", "authorization_code"), ("code", secondCode), ("code_verifier", secondPKCE.verifier.value),
                ("client_id", clientID),
            ]
            _ = try await tokenRequest(client, secondRedeem)
            #expect(try json(try await tokenRequest(client, secondRedeem))["error"] as? String == "invalid_grant")
            // A denial, and a grant type chosen by the client (it must not become a label).
            _ = try await Browser().authorize(client, query: TestHarness.authorizeQuery().query, decision: "deny")
            _ = try await tokenRequest(client, [("grant_type", "secret-grant-\(TestHarness.password)"), ("client_id", clientID)])
            return [code, secondCode, pkce.verifier.value, secondPKCE.verifier.value, rt1, rt2, clientID]
        }
        let secrets = seen + [TestHarness.password, TestHarness.confidentialSecret]

        let scraped = Exposition(metrics.exposition())
        #expect(scraped.value("pixy_registrations_total", [("result", "created")]) == 1)
        #expect(scraped.value("pixy_registrations_total", [("result", "reused")]) == 1)
        #expect(scraped.value("pixy_client_requests_total", [("kind", "python")]) == 2)
        #expect(scraped.value("pixy_client_requests_total", [("kind", "other")]) == 7, "the test client sends no User-Agent")
        #expect(scraped.value("pixy_sign_ins_total", [("method", "password"), ("result", "bad_password")]) == 1)
        #expect(scraped.value("pixy_sign_ins_total", [("method", "password"), ("result", "ok")]) == 3)
        #expect(scraped.value("pixy_consents_total", [("decision", "approved")]) == 2)
        #expect(scraped.value("pixy_consents_total", [("decision", "denied")]) == 1)
        #expect(scraped.value("pixy_token_requests_total", [("grant_type", "authorization_code"), ("outcome", "ok")]) == 2)
        #expect(scraped.value("pixy_token_requests_total", [("grant_type", "authorization_code"), ("outcome", "invalid_grant")]) == 1)
        #expect(scraped.value("pixy_token_requests_total", [("grant_type", "refresh_token"), ("outcome", "ok")]) == 2)
        #expect(scraped.value("pixy_token_requests_total", [("grant_type", "refresh_token"), ("outcome", "invalid_grant")]) == 1)
        #expect(scraped.value("pixy_token_requests_total", [("grant_type", "other"), ("outcome", "unsupported_grant_type")]) == 1)
        #expect(scraped.value("pixy_code_replays_total") == 1)
        #expect(scraped.value("pixy_refresh_reuse_total") == 1)
        #expect(scraped.value("pixy_families_revoked_total", [("reason", "reuse")]) == 1)
        #expect(scraped.value("pixy_families_revoked_total", [("reason", "code_replay")]) == 1)
        #expect(scraped.value("pixy_http_requests_total", [("route", "/token"), ("method", "POST"), ("status", "200")]) == 4)
        #expect(scraped.value("pixy_http_request_duration_seconds_count", [("route", "/token"), ("method", "POST")]) == 7)
        #expect(scraped.value("pixy_store_operations_total", [("store", "memory"), ("operation", "consume_code"), ("result", "ok")]) == 3)
        #expect(scraped.value("pixy_store_operation_duration_seconds_count", [("store", "memory"), ("operation", "consume_code")]) == 3)
        #expect(scraped.value("pixy_password_checks_in_flight") == 0)
        #expect(scraped.samples["pixy_signing_key_age_seconds"] != nil)
        for secret in secrets { #expect(!scraped.text.contains(secret), "a secret reached /metrics") }
        for value in scraped.labelValues {
            #expect(value.utf8.count <= 64 && value.allSatisfy { $0.isLetter || $0.isNumber || "_./:{}+-".contains($0) }, "\(value)")
        }
    }

    @Test("Metrics: a store that does not answer in time is counted as a timeout, apart from errors, and the request fails closed")
    func storeTimeouts() async throws {
        let harness = try await TestHarness.make()
        let store = BreakableStore(harness.store, error: .timedOut("redis: no reply within 2 seconds"))
        let metrics = PixyMetrics()
        let app = try await buildApplication(
            configuration: harness.configuration, stores: PixyStores(store), clock: harness.clock, logger: harness.logs.logger(),
            metrics: metrics)
        try await app.test(.router) { client in
            store.broken.store(true, ordering: .relaxed)
            let answer = try await tokenRequest(
                client, [("grant_type", "refresh_token"), ("refresh_token", "r"), ("client_id", TestHarness.publicClientID.rawValue)])
            #expect(answer.status == .serviceUnavailable)
        }
        let scraped = Exposition(metrics.exposition())
        #expect(scraped.value("pixy_store_operations_total", [("store", "memory"), ("operation", "client"), ("result", "timeout")]) == 1)
        #expect(scraped.value("pixy_store_operations_total", [("store", "memory"), ("operation", "client"), ("result", "error")]) == 0)
        #expect(scraped.value("pixy_token_requests_total", [("grant_type", "refresh_token"), ("outcome", "server_error")]) == 1)
    }

    @Test(
        "Request lines carry the client id and the outcome; a client id with a space or a bidi control is logged as (malformed), one with a line break never gets that far"
    )
    func requestLineNotes() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            for clientID in [TestHarness.publicClientID.rawValue, "two words", "web\u{202E}moc.live", "web\nFAKE LINE status=200"] {
                _ = try await tokenRequest(client, [("grant_type", "refresh_token"), ("refresh_token", "r"), ("client_id", clientID)])
            }
        }
        let lines = harness.logs.allLines.filter { $0.contains("POST /token") }
        #expect(lines.count == 4)
        #expect(lines.filter { $0.contains(#""client_id": public-client"#) && $0.contains(#""outcome": unauthorized_client"#) }.count == 1)
        #expect(lines.filter { $0.contains(#""client_id": (malformed)"#) && $0.contains(#""outcome": invalid_client"#) }.count == 2)
        #expect(lines.filter { !$0.contains("client_id") && $0.contains(#""outcome": invalid_request"#) }.count == 1)
        #expect(!harness.logs.allLines.contains { $0.contains("FAKE LINE") || $0.contains("two words") || $0.contains("\u{202E}") })
    }

    @Test("Metrics: without a registry nothing is counted and the OAuth listener serves no /metrics")
    func noMetricsByDefault() async throws {
        let harness = try await TestHarness.make()
        try await harness.application().test(.router) { client in
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .notFound)
        }
        var configuration = harness.configuration
        configuration.metricsPort = configuration.port
        #expect(throws: Configuration.Invalid.self) { try configuration.validate() }
    }
}
