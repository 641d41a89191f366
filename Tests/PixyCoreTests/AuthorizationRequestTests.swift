import PixyCore
import PixyModel
import PixyTesting
import Testing

/// Asserts that validation fails with `code`, shown on a page (never redirected).
func expectPageError(
    _ fixture: CoreFixture, _ parameters: FormParameters, _ code: OAuthError.Code,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        _ = try await fixture.validator.validate(parameters)
        Issue.record("expected \(code)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.error.code == code, sourceLocation: sourceLocation)
        #expect(error.redirect == nil, "must not redirect", sourceLocation: sourceLocation)
    }
}

/// Asserts that validation fails with `code`, sent to `redirect` with the request's state.
func expectRedirectError(
    _ fixture: CoreFixture, _ parameters: FormParameters, _ code: OAuthError.Code,
    redirect: String = CoreFixture.redirect, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        _ = try await fixture.validator.validate(parameters)
        Issue.record("expected \(code)", sourceLocation: sourceLocation)
    } catch {
        #expect(error.error.code == code, sourceLocation: sourceLocation)
        #expect(error.redirect?.uri == redirect, sourceLocation: sourceLocation)
    }
}

@Suite("docs/security.md §1: order of checks at /authorize")
struct AuthorizationOrderTests {
    @Test("§1.1: a missing, unknown or repeated client_id is an error page")
    func unknownClientIsPage() async throws {
        let fixture = try await CoreFixture()
        await expectPageError(fixture, CoreFixture.parameters(["client_id": nil]), .invalidRequest)
        await expectPageError(fixture, CoreFixture.parameters(["client_id": "nobody"]), .invalidRequest)
        await expectPageError(fixture, CoreFixture.parameters(extra: [("client_id", "app")]), .invalidRequest)
    }

    @Test(
        "§1.2: redirect_uri must match byte for byte",
        arguments: [
            "https://APP.example.com/cb", "https://app.example.com/cb/", "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#frag", "https://app.example.com/c", "https://app.example.com/cbx",
            "https://app.example.com:443/cb", "https://app.example.com/%63b", "http://app.example.com/cb",
            "https://app.example.com/cb ", "https://evil.example/cb",
        ])
    func redirectMustMatchExactly(requested: String) async throws {
        let fixture = try await CoreFixture()
        await expectPageError(fixture, CoreFixture.parameters(["redirect_uri": requested]), .invalidRequest)
    }

    @Test("§1.2: a client with several URIs must send one; a client with one may omit it")
    func omittedRedirect() async throws {
        let fixture = try await CoreFixture()
        await expectPageError(fixture, CoreFixture.parameters(["redirect_uri": nil]), .invalidRequest)
        let request = try await fixture.validator.validate(CoreFixture.parameters(["client_id": "single", "redirect_uri": nil]))
        #expect(request.redirectURI == CoreFixture.redirect)
        #expect(!request.redirectURIWasSent)
    }

    @Test(
        "§1.2 / RFC 8252 §7.3: loopback redirect URIs match on any port, nothing else may differ",
        arguments: [
            ("http://127.0.0.1:51234/cb", true), ("http://127.0.0.1/cb", true), ("http://[::1]:8080/cb", true),
            ("http://localhost:33333/callback", true), ("http://127.0.0.1:51234/cb2", false), ("http://127.0.0.1:51234/cb?x", false),
            ("https://127.0.0.1:51234/cb", false), ("http://127.0.0.2:51234/cb", false), ("http://localhost:1/cb", false),
            ("http://127.0.0.1:abc/cb", false), ("http://127.0.0.1:99999/cb", false), ("http://LOCALHOST:80/callback", false),
            ("com.example.app:/cb", true), ("com.example.app:/cb2", false),
        ])
    func loopbackAnyPort(requested: String, matches: Bool) async throws {
        let fixture = try await CoreFixture()
        let parameters = CoreFixture.parameters(["client_id": "native", "redirect_uri": requested])
        if matches {
            let request = try await fixture.validator.validate(parameters)
            #expect(request.redirectURI == requested, "the response goes to the port the app listens on")
        } else {
            await expectPageError(fixture, parameters, .invalidRequest)
        }
    }

    @Test("§1.3: before client and redirect are validated, nothing is redirected whatever else is wrong")
    func noRedirectBeforeValidation() async throws {
        let fixture = try await CoreFixture()
        let broken: [String: String?] = [
            "response_type": "token", "code_challenge": nil, "scope": "bogus", "prompt": "weird",
            "code_challenge_method": "plain",
        ]
        var unknownClient = broken; unknownClient["client_id"] = "nobody"
        await expectPageError(fixture, CoreFixture.parameters(unknownClient), .invalidRequest)
        var badRedirect = broken; badRedirect["redirect_uri"] = "https://evil.example/cb"
        await expectPageError(fixture, CoreFixture.parameters(badRedirect), .invalidRequest)
        await expectPageError(
            fixture, CoreFixture.parameters(["redirect_uri": "https://evil.example/cb"], extra: [("redirect_uri", CoreFixture.redirect)]),
            .invalidRequest)
    }

    @Test("§1.3: after validation, errors go to the redirect URI with state")
    func redirectAfterValidation() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["response_type": "token"]), .unsupportedResponseType)
        await expectRedirectError(fixture, CoreFixture.parameters(["response_type": nil]), .invalidRequest)
        do {
            _ = try await fixture.validator.validate(CoreFixture.parameters(["response_type": "token"]))
        } catch {
            #expect(error.redirect?.state == "s-1")
        }
    }

    @Test(
        "§1.4: any repeated parameter is invalid_request, never first or last wins",
        arguments: [
            "response_type", "code_challenge", "code_challenge_method", "scope", "prompt",
        ])
    func repeatedParameters(name: String) async throws {
        let fixture = try await CoreFixture()
        let value =
            name == "scope"
            ? "read"
            : (name == "prompt"
                ? "login"
                : (name == "response_type"
                    ? "code" : (name == "code_challenge_method" ? "S256" : "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")))
        await expectRedirectError(fixture, CoreFixture.parameters([name: value], extra: [(name, value)]), .invalidRequest)
    }

    @Test("§1.4: a repeated state cannot be echoed, so the error carries none")
    func repeatedState() async throws {
        let fixture = try await CoreFixture()
        do {
            _ = try await fixture.validator.validate(CoreFixture.parameters(extra: [("state", "other")]))
            Issue.record("expected an error")
        } catch {
            #expect(error.error.code == .invalidRequest)
            #expect(error.redirect?.state == nil)
        }
    }

    @Test("RFC 6749 §3.1: a parameter sent without a value counts as omitted")
    func emptyValuesAreOmitted() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["code_challenge": ""]), .invalidRequest)
    }

    @Test("A valid request keeps state, scope and resource exactly")
    func validRequest() async throws {
        let fixture = try await CoreFixture()
        let state = "ünïcode & spaces + symbols=?/"
        let request = try await fixture.validator.validate(
            CoreFixture.parameters(
                ["state": state, "scope": "write read", "resource": "https://mcp.example.com/mcp"]))
        #expect(request.state == state)
        #expect(request.scope.tokens == ["write", "read"])
        #expect(request.resource == "https://mcp.example.com/mcp")
        #expect(request.codeChallenge.value == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }
}

@Suite("docs/security.md §2: PKCE at /authorize")
struct PKCEAuthorizationTests {
    @Test("§2: code_challenge is required for every client")
    func challengeRequired() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["code_challenge": nil]), .invalidRequest)
        await expectRedirectError(fixture, CoreFixture.parameters(["code_challenge": nil, "code_challenge_method": nil]), .invalidRequest)
    }

    @Test("§2: a challenge without a method means plain and is refused")
    func missingMethodRefused() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["code_challenge_method": nil]), .invalidRequest)
    }

    @Test("§2: only S256, case-sensitive", arguments: ["plain", "s256", "S512", "SHA256", "S256 "])
    func methodMustBeS256(method: String) async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["code_challenge_method": method]), .invalidRequest)
    }

    @Test(
        "§2: a challenge must be 43 base64url characters",
        arguments: [
            "short", String(repeating: "a", count: 44), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-plain-verifier",
        ])
    func challengeFormat(challenge: String) async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["code_challenge": challenge]), .invalidRequest)
    }
}

@Suite("RFC 6749 §3.3 scope and RFC 8707 resource at /authorize")
struct ScopeAndResourceTests {
    @Test("§3.3: unsupported or malformed scope is invalid_scope", arguments: ["read bogus", "read  write", "re\"ad", "read\\x"])
    func invalidScope(scope: String) async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["scope": scope]), .invalidScope)
    }

    @Test("§3.3: a client's registered scope bounds its requests and is its default")
    func clientScopeBounds() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["client_id": "single", "scope": "read write"]), .invalidScope)
        let request = try await fixture.validator.validate(CoreFixture.parameters(["client_id": "single"]))
        #expect(request.scope.tokens == ["read"])
    }

    @Test("MCP step-up: a dynamically registered client may ask beyond the scope it registered (the user consents to it)")
    func dynamicClientScopeIsNoCeiling() async throws {
        let fixture = try await CoreFixture()
        try await fixture.store.save(
            Client(
                clientID: "dcr", redirectURIs: [CoreFixture.redirect], scope: Scope(validatedTokens: ["read"]),
                isDynamicallyRegistered: true, createdAt: fixture.clock.now()))
        let request = try await fixture.validator.validate(CoreFixture.parameters(["client_id": "dcr", "scope": "read write"]))
        #expect(request.scope.tokens == ["read", "write"])
        let defaulted = try await fixture.validator.validate(CoreFixture.parameters(["client_id": "dcr"]))
        #expect(defaulted.scope.tokens == ["read"], "the registered scope is still the default")
    }

    @Test(
        "RFC 6749 §3.3: without a scope and without a registered one, the server's default scope is granted; with no default, invalid_scope, never an empty grant"
    )
    func defaultScope() async throws {
        let fixture = try await CoreFixture()
        var policy = fixture.policy
        policy.defaultScope = Scope(validatedTokens: ["read"])
        let validator = AuthorizationRequestValidator(clients: fixture.store, policy: policy)
        #expect(try await validator.validate(CoreFixture.parameters()).scope.tokens == ["read"])
        do {
            var noDefault = fixture.policy
            noDefault.defaultScope = .empty
            _ = try await AuthorizationRequestValidator(clients: fixture.store, policy: noDefault).validate(CoreFixture.parameters())
            Issue.record("an empty grant was accepted")
        } catch {
            #expect(error.error.code == .invalidScope)
            #expect(error.redirect != nil, "said to the client, with state")
        }
    }

    @Test(
        "docs/security.md §6 / RFC 8707 §2: relative or fragment resources are invalid_target",
        arguments: [
            "/mcp", "mcp.example.com", "https://mcp.example.com/mcp#x", "https://user@mcp.example.com/", "urn:x", "https://",
            "https://mcp.example.com/a b",
        ])
    func invalidResource(resource: String) async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["resource": resource]), .invalidTarget)
    }

    @Test("RFC 8707: one resource per request; several are invalid_target")
    func severalResources() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(
            fixture, CoreFixture.parameters(["resource": "https://a.example/"], extra: [("resource", "https://b.example/")]),
            .invalidTarget)
    }

    @Test("prompt: unknown values are invalid_request; none cannot be combined")
    func promptValues() async throws {
        let fixture = try await CoreFixture()
        await expectRedirectError(fixture, CoreFixture.parameters(["prompt": "select_account"]), .invalidRequest)
        await expectRedirectError(fixture, CoreFixture.parameters(["prompt": "none login"]), .invalidRequest)
        let request = try await fixture.validator.validate(CoreFixture.parameters(["prompt": "login consent"]))
        #expect(request.prompt == [.login, .consent])
    }
}
