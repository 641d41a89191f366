import Foundation
import PixyCore
import Testing

/// OpenID Connect Core §3.1.3.7 (the ID token's claims) and the operator's rules for who may
/// sign in through an upstream provider (docs/federation.md). Each rule has its own case, so
/// removing any one of them fails exactly that case.
@Suite("Upstream sign-in: ID token claims and access rules")
struct UpstreamSignInTests {
    static let issuer = "https://idp.example.com"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func provider(access: UpstreamAccessRule = UpstreamAccessRule(allowsAnyone: true)) -> UpstreamProvider {
        UpstreamProvider(
            id: "idp", displayName: "IdP", kind: .openIDConnect(issuer: issuer), clientID: "pixy", clientSecret: "s",
            clientAuthentication: .clientSecretBasic, scopes: ["openid", "email"], access: access)
    }

    static func claims(_ changes: (inout Claims) -> Void = { _ in }) -> Claims {
        var claims: Claims = [
            "iss": .string(issuer), "sub": .string("user-1"), "aud": .string("pixy"), "exp": .number(now.timeIntervalSince1970 + 300),
            "iat": .number(now.timeIntervalSince1970 - 5), "nonce": .string("n-123"), "email": .string("a@example.com"),
        ]
        changes(&claims)
        return claims
    }

    func identity(_ claims: Claims, nonce: String = "n-123") throws -> UpstreamIdentity {
        try IDTokenValidation.identity(from: claims, provider: Self.provider(), issuer: Self.issuer, nonce: nonce, now: Self.now)
    }

    func refusal(_ claims: Claims, nonce: String = "n-123") -> UpstreamFailure? {
        do {
            _ = try identity(claims, nonce: nonce)
            return nil
        } catch {
            return error as? UpstreamFailure
        }
    }

    @Test("§3.1.3.7: a token passing every check names (provider, sub)")
    func accepted() throws {
        let identity = try identity(Self.claims())
        #expect(identity == UpstreamIdentity(provider: "idp", subject: "user-1", email: "a@example.com", name: nil, issuer: Self.issuer))
        #expect(UpstreamIdentity.username(provider: "idp", subject: "User-1") == "@idp:User-1")
    }

    @Test("§3.1.3.7 step 2: iss must equal the provider's issuer exactly")
    func issuer() {
        #expect(refusal(Self.claims { $0["iss"] = .string(Self.issuer + "/") })?.code == .invalidIDToken)
        #expect(refusal(Self.claims { $0["iss"] = nil })?.code == .invalidIDToken)
    }

    @Test("§3.1.3.7 step 3: aud must contain Pixy's client id")
    func audience() {
        #expect(refusal(Self.claims { $0["aud"] = .string("another-client") }) != nil)
        #expect(refusal(Self.claims { $0["aud"] = nil }) != nil)
        #expect(refusal(Self.claims { $0["aud"] = .array([.string("pixy")]) }) == nil)
    }

    @Test("§3.1.3.7 steps 4–5: several audiences need azp, and azp must be Pixy")
    func authorizedParty() {
        #expect(refusal(Self.claims { $0["aud"] = .array([.string("pixy"), .string("other")]) }) != nil)
        #expect(
            refusal(
                Self.claims {
                    $0["aud"] = .array([.string("pixy"), .string("other")]); $0["azp"] = .string("pixy")
                }) == nil)
        #expect(refusal(Self.claims { $0["azp"] = .string("other") }) != nil)
    }

    @Test("§3.1.3.7 step 9: an expired token is refused (a minute of clock skew allowed)")
    func expiry() {
        #expect(refusal(Self.claims { $0["exp"] = .number(Self.now.timeIntervalSince1970 - 61) }) != nil)
        #expect(refusal(Self.claims { $0["exp"] = .number(Self.now.timeIntervalSince1970 - 30) }) == nil)
        #expect(refusal(Self.claims { $0["exp"] = nil }) != nil)
    }

    @Test("§3.1.3.7 step 10: iat must be present and near now")
    func issuedAt() {
        #expect(refusal(Self.claims { $0["iat"] = nil }) != nil)
        #expect(refusal(Self.claims { $0["iat"] = .number(Self.now.timeIntervalSince1970 + 3600) }) != nil)
        #expect(refusal(Self.claims { $0["iat"] = .number(Self.now.timeIntervalSince1970 - 3600) }) != nil)
    }

    @Test("§3.1.3.7 step 11: nonce must be the one sent with this sign-in")
    func nonce() {
        #expect(refusal(Self.claims(), nonce: "another") != nil)
        #expect(refusal(Self.claims { $0["nonce"] = nil }) != nil)
    }

    @Test("Core §2: sub is a non-empty string of at most 255 bytes")
    func subject() {
        #expect(refusal(Self.claims { $0["sub"] = .string("") }) != nil)
        #expect(refusal(Self.claims { $0["sub"] = .number(12) }) != nil)
        #expect(refusal(Self.claims { $0["sub"] = .string(String(repeating: "x", count: 256)) }) != nil)
    }

    @Test("Plain OAuth 2: the configured subject claim, a number kept as its decimal text")
    func userinfo() throws {
        let github = UpstreamProvider(
            id: "gh", displayName: "GitHub",
            kind: .oauth2(
                .init(
                    authorizationEndpoint: "https://github.com/login/oauth/authorize",
                    tokenEndpoint: "https://github.com/login/oauth/access_token", userinfoEndpoint: "https://api.github.com/user",
                    subjectClaim: "id", emailClaim: "email", nameClaim: "login")), clientID: "c", clientSecret: "s",
            clientAuthentication: .clientSecretPost, scopes: ["read:user"], access: UpstreamAccessRule(allowsAnyone: true))
        let identity = try IDTokenValidation.identity(
            fromUserinfo: ["id": .number(4242), "login": .string("octocat"), "email": .null], provider: github)
        #expect(
            identity
                == UpstreamIdentity(provider: "gh", subject: "4242", email: nil, name: "octocat", issuer: "https://api.github.com/user"))
        #expect(throws: UpstreamFailure.self) {
            try IDTokenValidation.identity(fromUserinfo: ["login": .string("octocat")], provider: github)
        }
        #expect(throws: UpstreamFailure.self) { try IDTokenValidation.identity(fromUserinfo: ["id": .number(1.5)], provider: github) }
        #expect(github.problem() == nil)
        #expect(identity.issuer == "https://api.github.com/user")
        var byLogin = github
        byLogin.kind = .oauth2(
            .init(
                authorizationEndpoint: "https://github.com/login/oauth/authorize",
                tokenEndpoint: "https://github.com/login/oauth/access_token",
                userinfoEndpoint: "https://api.github.com/user", subjectClaim: "login"))
        #expect(byLogin.problem() != nil, "a login can be changed and taken over: never a subject")
        var byDomain = github
        byDomain.access = UpstreamAccessRule(allowedEmailDomains: ["example.com"])
        #expect(byDomain.problem() != nil, "plain OAuth 2 says nothing about verified addresses")
    }

    @Test("OpenID Connect Core §3.1.2.1: with prompt=login, auth_time must show a sign-in after the request")
    func freshSignIn() throws {
        let sent = Self.now.addingTimeInterval(-20)
        func check(_ claims: Claims) throws -> UpstreamIdentity {
            try IDTokenValidation.identity(
                from: claims, provider: Self.provider(), issuer: Self.issuer, nonce: "n-123", now: Self.now, signedInSince: sent)
        }
        #expect(throws: UpstreamFailure.self) { try check(Self.claims()) }
        #expect(throws: UpstreamFailure.self) { try check(Self.claims { $0["auth_time"] = .number(sent.timeIntervalSince1970 - 3600) }) }
        _ = try check(Self.claims { $0["auth_time"] = .number(sent.timeIntervalSince1970 + 5) })
        let authTime = IDTokenValidation.authenticationTime(from: Self.claims { $0["auth_time"] = .number(1_799_999_000) }, now: Self.now)
        #expect(authTime == Date(timeIntervalSince1970: 1_799_999_000))
        #expect(IDTokenValidation.authenticationTime(from: Self.claims(), now: Self.now) == Self.now)
    }

    @Test("OpenID Connect Core §5.7: a subject names an account only within its issuer")
    func sameAccount() throws {
        let known = try identity(Self.claims())
        #expect(known.issuer == Self.issuer)
        var elsewhere = known
        elsewhere.issuer = "https://other-tenant.example.com"
        #expect(!known.isSameAccount(as: elsewhere))
        let preCreated = UpstreamIdentity(provider: "idp", subject: "user-1", email: nil, name: nil)
        #expect(preCreated.isSameAccount(as: known), "a user the operator created by subject, before the first sign-in")
        #expect(!preCreated.isSameAccount(as: UpstreamIdentity(provider: "idp", subject: "user-2", email: nil, name: nil)))
    }

    @Test("Access rules: verified address in an allowed domain; required claims; nothing chosen is refused")
    func accessRules() {
        let person = UpstreamIdentity(provider: "idp", subject: "1", email: "Ann@Example.com", name: nil)
        let domains = UpstreamAccessRule(allowedEmailDomains: ["example.com"])
        let verified: Claims = ["email_verified": .bool(true)]
        #expect(domains.admits(person, claims: verified))
        #expect(domains.admits(person, claims: ["email_verified": .string("true")]))
        #expect(!domains.admits(person, claims: ["email_verified": .bool(false)]), "an unverified address proves nothing")
        #expect(!domains.admits(person, claims: [:]), "nor one the provider says nothing about")
        #expect(
            !domains.admits(UpstreamIdentity(provider: "idp", subject: "1", email: "ann@example.com.evil", name: nil), claims: verified))
        #expect(!domains.admits(UpstreamIdentity(provider: "idp", subject: "1", email: nil, name: nil), claims: verified))
        let groups = UpstreamAccessRule(requiredClaims: ["groups": "mcp-users"])
        #expect(groups.admits(person, claims: ["groups": .array([.string("staff"), .string("mcp-users")])]))
        #expect(!groups.admits(person, claims: ["groups": .array([.string("staff")])]))
        #expect(!groups.admits(person, claims: [:]))
        #expect(Self.provider(access: UpstreamAccessRule()).problem() != nil, "a provider must say who may sign in")
        #expect(Self.provider(access: UpstreamAccessRule(createsUsers: false)).problem() == nil)
    }

    @Test("Provider settings: https endpoints (http on loopback only), the openid scope, asymmetric algorithms")
    func providerProblems() {
        var provider = Self.provider()
        #expect(provider.problem() == nil)
        provider.kind = .openIDConnect(issuer: "http://idp.example.com")
        #expect(provider.problem() != nil)
        provider.kind = .openIDConnect(issuer: "http://127.0.0.1:8080/realms/x")
        #expect(provider.problem() == nil)
        provider.allowedAlgorithms = ["HS256"]
        #expect(provider.problem() != nil)
        provider.allowedAlgorithms = ["none"]
        #expect(provider.problem() != nil)
        provider = Self.provider()
        provider.scopes = ["email"]
        #expect(provider.problem() != nil)
        provider = Self.provider()
        provider.id = "IdP:x"
        #expect(provider.problem() != nil)
        #expect(provider.redirectURI(issuer: "https://auth.example.com") == "https://auth.example.com/upstream/IdP:x/callback")
    }

    @Test("Usernames starting with @ belong to upstream identities and are kept byte for byte")
    func usernames() {
        #expect(Username.problem(with: "@idp:user-1") != nil)
        #expect(Username.canonical("@idp:User-1") == "@idp:User-1")
        #expect(Username.canonical("Alice") == "alice")
    }

    @Test("A discovery document must name the configured issuer exactly (OpenID Connect Discovery §4.3)")
    func discovery() throws {
        let document: Claims = [
            "issuer": .string(Self.issuer), "authorization_endpoint": .string(Self.issuer + "/authorize"),
            "token_endpoint": .string(Self.issuer + "/token"), "jwks_uri": .string(Self.issuer + "/jwks"),
            "authorization_response_iss_parameter_supported": .bool(true),
        ]
        let endpoints = try UpstreamEndpoints.discovered(document, for: Self.provider())
        #expect(endpoints.issuer == Self.issuer && endpoints.sendsIssuerParameter)
        var other = document
        other["issuer"] = .string("https://evil.example.com")
        #expect(throws: UpstreamFailure.self) { try UpstreamEndpoints.discovered(other, for: Self.provider()) }
        var plain = document
        plain["token_endpoint"] = .string("http://idp.example.com/token")
        #expect(throws: UpstreamFailure.self) { try UpstreamEndpoints.discovered(plain, for: Self.provider()) }
        plain["token_endpoint"] = .string("http://127.0.0.1:8080/token")
        #expect(throws: UpstreamFailure.self, "an https issuer's endpoints are https, even on loopback") {
            try UpstreamEndpoints.discovered(plain, for: Self.provider())
        }
    }
}
