import Foundation
import NIOConcurrencyHelpers
import PixyModel

/// The enforcement probes of `pixy doctor --login`: a real flow, then requests a compliant
/// server must refuse. Each probe uses its own authorization code.
struct Probes {
    let doctor: Doctor
    let login: Doctor.Login
    let url: URL
    let resource: String?
    let issuer: String
    let metadata: AuthorizationServerMetadata
    /// The scope to ask for: the user's, else what the resource's challenge names.
    let scope: String?

    private var http: any ClientHTTP { doctor.http }

    /// What one authorization request produced.
    enum Authorization {
        case code(String, iss: String?)
        /// The server said no: an error page (4xx) or an error sent back to the client.
        case refused(String)
        /// Nothing proves either way: the user denied, the browser never came back, the walk
        /// left the server. A probe that gets this is a warning, never a pass.
        case inconclusive(String)
    }

    func run(into report: inout Doctor.Findings) async {
        let listener: LoopbackRedirectListener?
        do {
            listener = login.redirectURI == nil ? try await LoopbackRedirectListener.start() : nil
        } catch {
            report.add("login.flow", "a full sign-in", .fail, "cannot listen on loopback: \(error)")
            return
        }
        defer { listener?.close() }
        let redirectURI = login.redirectURI ?? listener!.redirectURI
        let clientID: String
        do {
            clientID = try await registeredClient(redirectURI: redirectURI)
        } catch {
            report.add(
                "login.client", "a client to sign in with", .fail, "\(error)",
                fix: "pass --client-id and --redirect-uri of a public client registered beforehand")
            return
        }
        let context = Context(probes: self, clientID: clientID, redirectURI: redirectURI)

        // The whole flow, as an MCP client runs it.
        let pair = PKCEPair.generate()
        let first: Authorization
        do {
            first = try await context.authorize(challenge: pair.challenge.value, method: "S256")
        } catch {
            report.add("login.flow", "a full sign-in", .fail, "\(error)", fix: "check the login and the client's redirect URI")
            return
        }
        switch first {
        case .code: break
        case .refused(let reason):
            report.add("login.flow", "a full sign-in", .fail, "no code: \(reason)", fix: "check the login and the client's redirect URI")
            return
        case .inconclusive(let reason):
            report.add("login.flow", "a full sign-in", .fail, "no code: \(reason)", fix: "complete the sign-in and approve the request")
            return
        }
        guard case .code(let code, let iss) = first else { return }
        switch iss {
        case issuer?:
            report.add("login.iss", "iss in the authorization response", .pass, issuer)
        case nil:
            report.add(
                "login.iss", "iss in the authorization response", metadata.issParameterSupported ? .fail : .warn, "no iss",
                fix: "add iss=<issuer> to every authorization response (RFC 9207 §2)")
        case let other?:
            report.add(
                "login.iss", "iss in the authorization response", .fail, "iss is \(other), the issuer is \(issuer)",
                fix: "send the issuer identifier exactly as iss (RFC 9207 §2)")
        }
        guard let tokens = try? await context.exchange(code, verifier: pair.verifier.value), tokens.status == 200,
            let access = tokens.jsonObject?["access_token"] as? String
        else {
            report.add(
                "login.flow", "a full sign-in", .fail, "the token request with the right verifier failed",
                fix: "the token endpoint must accept the code with its S256 verifier (RFC 7636 §4.5)")
            return
        }
        context.issued(tokens)
        report.add("login.flow", "a full sign-in", .pass, "code with S256\(resource == nil ? "" : " and resource"), then tokens")
        let noStore = tokens.header("Cache-Control")?.lowercased().contains("no-store") ?? false
        report.add(
            "token.no_store", "Cache-Control: no-store on tokens", noStore ? .pass : .fail,
            tokens.header("Cache-Control") ?? "no Cache-Control",
            fix: "send Cache-Control: no-store with every token response (RFC 6749 §5.1)")
        if resource != nil {
            let answer = try? await context.callResource(token: access)
            // 2xx accepts and 401/403 refuses the token; anything else says nothing about it.
            let verdict: DoctorCheck.Verdict =
                switch answer {
                case (200..<300)?: .pass
                case 401?, 403?: .fail
                default: .warn
                }
            report.add(
                "resource.accepts_token", "the MCP server accepts the token", verdict, answer.map { "HTTP \($0)" } ?? "no answer",
                fix: "the MCP server must accept tokens its authorization server issues for its resource")
        }

        await probe(.plain(), context, into: &report)
        await probe(.missingChallenge, context, into: &report)
        await probeWrongVerifier(context, into: &report)
        await probeReplay(context, into: &report)
        if resource != nil { await probeOtherResource(context, into: &report) }
        await probeRefresh(context, refreshToken: tokens.jsonObject?["refresh_token"] as? String, into: &report)
        await context.revokeAll()
    }

    private func registeredClient(redirectURI: URL) async throws -> String {
        if let clientID = login.clientID { return clientID }
        guard let endpoint = metadata.registrationEndpoint else {
            throw PixyClientError.registration("the server offers no dynamic registration")
        }
        return try await http.registerPublicClient(at: endpoint, name: "pixy doctor", redirectURI: redirectURI)
    }

    /// A downgrade the server must refuse: `plain`, or no challenge at all. A code issued anyway
    /// fails the check; the doctor also tries to redeem it, to say how far the downgrade goes.
    private struct Downgrade {
        let id: String
        let title: String
        let fix: String
        /// The challenge and method sent, and the verifier that would redeem the code.
        let challenge: String?
        let method: String?
        let verifier: String?
        let issued: String
        let redeemed: String

        static func plain() -> Downgrade {
            let verifier = CodeVerifier.generate().value
            return Downgrade(
                id: "enforce.plain", title: "code_challenge_method=plain refused",
                fix: "refuse code_challenge_method=plain; accept S256 only (OAuth 2.1 §4.1.1)", challenge: verifier, method: "plain",
                verifier: verifier, issued: "a code was issued for plain",
                redeemed: "plain accepted: a code was issued and redeemed with the plain verifier")
        }

        static let missingChallenge = Downgrade(
            id: "enforce.missing_challenge", title: "a request without code_challenge refused",
            fix: "require code_challenge on every authorization request (OAuth 2.1 §4.1.1)", challenge: nil, method: nil, verifier: nil,
            issued: "a code was issued without PKCE", redeemed: "a code was issued without PKCE and redeemed without a verifier")
    }

    private func probe(_ downgrade: Downgrade, _ context: Context, into report: inout Doctor.Findings) async {
        switch try? await context.authorize(challenge: downgrade.challenge, method: downgrade.method) {
        case .refused(let reason)?:
            report.add(downgrade.id, downgrade.title, .pass, reason)
        case .inconclusive(let reason)?:
            report.add(
                downgrade.id, downgrade.title, .warn, "could not tell: \(reason)", fix: "run the doctor again and complete each sign-in")
        case .code(let code, _)?:
            let exchanged = try? await context.exchange(code, verifier: downgrade.verifier)
            if let exchanged { context.issued(exchanged) }
            report.add(
                downgrade.id, downgrade.title, .fail, exchanged?.status == 200 ? downgrade.redeemed : downgrade.issued, fix: downgrade.fix)
        case nil:
            report.add(downgrade.id, downgrade.title, .warn, "could not tell: the request failed", fix: downgrade.fix)
        }
    }

    private func probeWrongVerifier(_ context: Context, into report: inout Doctor.Findings) async {
        let title = "a wrong verifier refused, and the code burnt"
        let pair = PKCEPair.generate()
        guard case .code(let code, _)? = try? await context.authorize(challenge: pair.challenge.value, method: "S256") else {
            report.add("enforce.wrong_verifier", title, .warn, "could not tell: no code to probe with")
            return
        }
        let wrong = try? await context.exchange(code, verifier: CodeVerifier.generate().value)
        let right = try? await context.exchange(code, verifier: pair.verifier.value)
        guard let wrong, let right else {
            report.add("enforce.wrong_verifier", title, .warn, "could not tell: a token request failed")
            return
        }
        context.issued(wrong)
        context.issued(right)
        if wrong.status == 200 {
            report.add(
                "enforce.wrong_verifier", title, .fail, "tokens were issued for a wrong verifier",
                fix: "compare BASE64URL(SHA256(code_verifier)) with the stored challenge (RFC 7636 §4.6)")
        } else if right.status == 200 {
            report.add(
                "enforce.wrong_verifier", title, .fail, "refused, but the code still worked afterwards with the right verifier",
                fix: "consume the code on every redemption attempt, so a guessed verifier cannot be retried")
        } else {
            report.add(
                "enforce.wrong_verifier", title, .pass,
                "HTTP \(wrong.status) \(wrong.jsonObject?["error"] as? String ?? ""), then the code was spent")
        }
    }

    private func probeReplay(_ context: Context, into report: inout Doctor.Findings) async {
        let title = "a used code refused"
        let pair = PKCEPair.generate()
        guard case .code(let code, _)? = try? await context.authorize(challenge: pair.challenge.value, method: "S256"),
            let first = try? await context.exchange(code, verifier: pair.verifier.value), first.status == 200
        else {
            report.add("enforce.replay", title, .warn, "could not tell: no code to probe with")
            return
        }
        context.issued(first)
        guard let again = try? await context.exchange(code, verifier: pair.verifier.value) else {
            report.add("enforce.replay", title, .warn, "could not tell: the second token request failed")
            return
        }
        context.issued(again)
        report.add(
            "enforce.replay", title, again.status == 200 ? .fail : .pass,
            again.status == 200
                ? "the same code was redeemed twice" : "HTTP \(again.status) \(again.jsonObject?["error"] as? String ?? "")",
            fix: "consume each code atomically, once (OAuth 2.1 §4.1.2)")
    }

    private func probeOtherResource(_ context: Context, into report: inout Doctor.Findings) async {
        let title = "a token for another resource refused"
        let other = "https://other-resource.invalid/mcp"
        let pair = PKCEPair.generate()
        switch try? await context.authorize(challenge: pair.challenge.value, method: "S256", resource: other) {
        case .refused(let reason)?:
            report.add(
                "resource.audience", title, .warn,
                "the authorization server refuses resource=\(other) (\(reason)), so the MCP server's own audience check was not exercised",
                fix: "make sure the MCP server checks aud against its own resource (RFC 8707 §2, RFC 9068 §4)")
        case .inconclusive(let reason)?:
            report.add("resource.audience", title, .warn, "could not tell: \(reason)")
        case .code(let code, _)?:
            guard let tokens = try? await context.exchange(code, verifier: pair.verifier.value, resource: other) else {
                report.add("resource.audience", title, .warn, "could not tell: the token request failed")
                return
            }
            context.issued(tokens)
            guard let access = tokens.jsonObject?["access_token"] as? String else {
                report.add(
                    "resource.audience", title, .warn,
                    "the token endpoint refuses resource=\(other), so the MCP server's own audience check was not exercised",
                    fix: "make sure the MCP server checks aud against its own resource (RFC 8707 §2, RFC 9068 §4)")
                return
            }
            let status = try? await context.callResource(token: access)
            guard let status else {
                report.add("resource.audience", title, .warn, "could not tell: the MCP server did not answer")
                return
            }
            // 401/403 refuses and 2xx accepts the foreign token; anything else says nothing.
            let verdict: DoctorCheck.Verdict = [401, 403].contains(status) ? .pass : ((200..<300).contains(status) ? .fail : .warn)
            report.add(
                "resource.audience", title, verdict,
                verdict == .pass
                    ? "the MCP server answered HTTP \(status)" : "the MCP server answered HTTP \(status) to a token issued for \(other)",
                fix: "check the token's audience (aud) against this server's resource (RFC 8707 §2, RFC 9068 §4)")
        case nil:
            report.add("resource.audience", title, .warn, "the request failed")
        }
    }

    private func probeRefresh(_ context: Context, refreshToken: String?, into report: inout Doctor.Findings) async {
        let title = "refresh tokens rotate"
        guard let refreshToken else {
            report.add(
                "refresh.rotates", title, .warn, "no refresh token was issued",
                fix: "issue refresh tokens, rotated on every use for public clients (OAuth 2.1 §4.3.1)")
            return
        }
        func refreshForm(_ token: String) -> [(String, String)] {
            [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", context.clientID)]
                + (resource.map { [("resource", $0)] } ?? [])
        }
        let form = refreshForm(refreshToken)
        guard let tokenEndpoint = metadata.tokenEndpoint, let refreshed = try? await http.postForm(tokenEndpoint, form),
            refreshed.status == 200
        else {
            report.add(
                "refresh.rotates", title, .fail, "the refresh request failed", fix: "accept the refresh token it issued (RFC 6749 §6)")
            return
        }
        context.issued(refreshed)
        let next = refreshed.jsonObject?["refresh_token"] as? String
        guard let next, next != refreshToken else {
            report.add(
                "refresh.rotates", title, .fail, "the refresh response kept the same refresh token",
                fix: "rotate refresh tokens for public clients: a new one on every use, the old one invalid (OAuth 2.1 §4.3.1)")
            return
        }
        // Use the new token before presenting the old one again: a server with strict reuse
        // detection revokes the family on reuse (RFC 9700 §4.14.2), which must not count against it.
        let nextForm = refreshForm(next)
        guard let advanced = try? await http.postForm(tokenEndpoint, nextForm), let reuse = try? await http.postForm(tokenEndpoint, form)
        else {
            report.add("refresh.rotates", title, .warn, "could not tell: a refresh request failed")
            return
        }
        context.issued(advanced)
        context.issued(reuse)
        let detail: String
        let verdict: DoctorCheck.Verdict
        if advanced.status != 200 {
            (verdict, detail) = (.fail, "the new refresh token was refused")
        } else if reuse.status == 200 {
            (verdict, detail) = (.fail, "the old refresh token still works after the new one was used")
        } else {
            (verdict, detail) = (.pass, "a new refresh token on each use; the old one is refused once the new one is used")
        }
        report.add("refresh.rotates", title, verdict, detail, fix: "invalidate a refresh token once it has been used (OAuth 2.1 §4.3.1)")
    }

    /// One client's view of the server.
    struct Context {
        let probes: Probes
        let clientID: String
        let redirectURI: URL
        /// Every token the probes obtained, revoked at the end where the server can (RFC 7009).
        let tokens = NIOLockedValueBox<[String]>([])

        /// Remembers the tokens in a token response.
        func issued(_ response: ClientHTTPResponse) {
            let json = response.jsonObject ?? [:]
            let found = [json["refresh_token"], json["access_token"]].compactMap { $0 as? String }
            tokens.withLockedValue { $0 += found }
        }

        /// Revokes what the probes obtained (refresh tokens first: that ends their families).
        func revokeAll() async {
            guard let endpoint = probes.metadata.revocationEndpoint, SecureTransport.allows(endpoint) else { return }
            for token in tokens.withLockedValue({ $0 }) {
                _ = try? await probes.http.postForm(endpoint, [("token", token), ("client_id", clientID)])
            }
        }

        func authorize(challenge: String?, method: String?, resource: String? = nil) async throws -> Authorization {
            guard let endpoint = probes.metadata.authorizationEndpoint else { throw PixyClientError.discovery("no authorization_endpoint") }
            let state = SecureRandom.token(byteCount: 12)
            var query = [
                ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI.absoluteString), ("state", state),
            ]
            if let challenge { query.append(("code_challenge", challenge)) }
            if let method { query.append(("code_challenge_method", method)) }
            if let scope = probes.scope { query.append(("scope", scope)) }
            if let resource = resource ?? probes.resource { query.append(("resource", resource)) }
            var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)!
            let existing = components.percentEncodedQuery.map { $0 + "&" } ?? ""
            components.percentEncodedQuery = existing + FormEncoding.encode(query)
            switch try await probes.login.agent(components.url!, redirectURI) {
            case .page(let status, let text):
                // An error page for a bad request is a refusal; a rate limit or an outage proves nothing.
                return status == 400
                    ? .refused("HTTP 400, no redirect") : .inconclusive("HTTP \(status), no redirect: \(text.prefix(100))")
            case .redirect(let response):
                let items = URLComponents(url: response, resolvingAgainstBaseURL: false)?.queryItems ?? []
                func value(_ name: String) -> String? { items.first { $0.name == name }?.value }
                guard value("state") == state else { return .inconclusive("a redirect without this request's state") }
                if let error = value("error") {
                    // Only errors about the request itself refuse it (RFC 6749 §4.1.2.1, RFC 8707 §2);
                    // a denial, a rate limit or an outage proves nothing.
                    let aboutTheRequest = ["invalid_request", "invalid_target", "invalid_scope", "unsupported_response_type"]
                    return aboutTheRequest.contains(error) ? .refused("error=\(error)") : .inconclusive("error=\(error)")
                }
                guard let code = value("code") else { return .inconclusive("a redirect without a code") }
                return .code(code, iss: value("iss"))
            }
        }

        func exchange(_ code: String, verifier: String?, resource: String? = nil) async throws -> ClientHTTPResponse {
            guard let endpoint = probes.metadata.tokenEndpoint else { throw PixyClientError.discovery("no token_endpoint") }
            var form = [
                ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI.absoluteString), ("client_id", clientID),
            ]
            if let verifier { form.append(("code_verifier", verifier)) }
            if let resource = resource ?? probes.resource { form.append(("resource", resource)) }
            return try await probes.http.postForm(endpoint, form, headers: [("Accept", "application/json")])
        }

        /// The status the MCP server answers an `initialize` carrying `token`.
        func callResource(token: String) async throws -> Int {
            let response = try await probes.http.send(
                "POST", probes.url,
                headers: [
                    ("Authorization", "Bearer \(token)"), ("Content-Type", "application/json"),
                    ("Accept", "application/json, text/event-stream"),
                ], body: Array(Discovery.initialize.utf8))
            return response.status
        }
    }
}
