import PixyCore
import PixyTesting
import Testing

@Suite("docs/operations.md, Metrics: labels come from closed sets")
struct TelemetryTests {
    @Test("Client kinds: the User-Agents of the big MCP clients and libraries map to a handful of values; anything else is other")
    func clientKinds() {
        let cases: [(String?, ClientKind)] = [
            ("Claude-User/1.0 (+https://support.anthropic.com/)", .claude), ("claude-ai/1.0", .claude),
            ("ChatGPT-User/1.0; +https://openai.com/bot", .chatgpt), ("openai-mcp/1.0.0", .chatgpt),
            ("python-httpx/0.28.1", .python), ("python-requests/2.32", .python), ("Authlib/1.3 (+https://authlib.org/)", .python),
            ("node", .node), ("undici", .node), ("AsyncHTTPClient/1.0", .swift), ("curl/8.5.0", .curl),
            ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120", .browser), (nil, .other), ("", .other), ("my-own-agent/1 secret", .other),
        ]
        for (agent, kind) in cases { #expect(ClientKind(userAgent: agent) == kind, "\(agent ?? "nil")") }
    }

    @Test("Token metrics: a grant type the server does not know is counted as other, a missing one as missing")
    func grantTypeLabels() {
        let metrics = RecordingFactory()
        let telemetry = Telemetry(factory: metrics)
        telemetry.tokenRequest(grantType: "authorization_code", outcome: Result<Int, OAuthError>.success(1))
        telemetry.tokenRequest(
            grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer", outcome: Result<Int, OAuthError>.failure(.invalidRequest("x")))
        telemetry.tokenRequest(grantType: nil, outcome: Result<Int, OAuthError>.failure(.invalidRequest("x")))
        #expect(
            metrics.counted == [
                "pixy_token_requests_total{grant_type=authorization_code,outcome=ok}",
                "pixy_token_requests_total{grant_type=other,outcome=invalid_request}",
                "pixy_token_requests_total{grant_type=missing,outcome=invalid_request}",
            ])
    }
}
