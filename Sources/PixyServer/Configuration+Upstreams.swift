public import Foundation
public import PixyCore

/// The upstream identity providers, read from a JSON file (docs/federation.md, "Configuration").
extension Configuration {
    /// One provider as written in the file. Secrets are never in the file itself when
    /// `client_secret_env` or `client_secret_file` is used instead of `client_secret`.
    struct UpstreamEntry: Decodable {
        var id: String
        var name: String?
        var issuer: String?
        var authorizationEndpoint: String?
        var tokenEndpoint: String?
        var userinfoEndpoint: String?
        var subjectClaim: String?
        var emailClaim: String?
        var nameClaim: String?
        var clientID: String
        var clientSecret: String?
        var clientSecretEnv: String?
        var clientSecretFile: String?
        var clientAuth: String?
        var scopes: [String]?
        var allowedAlgorithms: [String]?
        var allow: Allow?

        struct Allow: Decodable {
            var emailDomains: [String]?
            var claims: [String: String]?
            var existingUsersOnly: Bool?
            var anyone: Bool?

            enum CodingKeys: String, CodingKey {
                case emailDomains = "email_domains", claims, existingUsersOnly = "existing_users_only", anyone
            }
        }

        enum CodingKeys: String, CodingKey {
            case id, name, issuer
            case authorizationEndpoint = "authorization_endpoint", tokenEndpoint = "token_endpoint"
            case userinfoEndpoint = "userinfo_endpoint", subjectClaim = "subject_claim", emailClaim = "email_claim"
            case nameClaim = "name_claim", clientID = "client_id", clientSecret = "client_secret"
            case clientSecretEnv = "client_secret_env", clientSecretFile = "client_secret_file", clientAuth = "client_auth"
            case scopes, allowedAlgorithms = "allowed_algorithms", allow
        }
    }

    /// The whole file: `{"providers": [...], "password_login": true}`.
    struct UpstreamFile: Decodable {
        var providers: [UpstreamEntry]
        var passwordLogin: Bool?

        enum CodingKeys: String, CodingKey {
            case providers, passwordLogin = "password_login"
        }
    }

    /// Reads the providers (and whether password sign-in stays on) from the JSON file at `path`,
    /// taking `client_secret_env` secrets from `environment`.
    public mutating func loadUpstreams(from path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw Invalid(description: "cannot read the upstream providers file \(path): \(error.localizedDescription)")
        }
        let file: UpstreamFile
        do {
            file = try JSONDecoder().decode(UpstreamFile.self, from: data)
        } catch {
            throw Invalid(description: "the upstream providers file \(path) is not valid: \(error)")
        }
        upstreamProviders = try file.providers.map { try Self.provider(from: $0, environment: environment) }
        if let passwordLogin = file.passwordLogin { allowsPasswordLogin = passwordLogin }
    }

    static func provider(from entry: UpstreamEntry, environment: [String: String]) throws -> UpstreamProvider {
        var secret = entry.clientSecret
        if let name = entry.clientSecretEnv {
            guard let value = environment[name], !value.isEmpty else {
                throw Invalid(description: "upstream provider \(entry.id): environment variable \(name) (client_secret_env) is not set")
            }
            secret = value
        }
        if let file = entry.clientSecretFile {
            guard let value = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw Invalid(description: "upstream provider \(entry.id): cannot read client_secret_file \(file)")
            }
            secret = value.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let kind: UpstreamProvider.Kind
        if let issuer = entry.issuer {
            guard entry.authorizationEndpoint == nil, entry.tokenEndpoint == nil else {
                throw Invalid(
                    description:
                        "upstream provider \(entry.id): give an issuer (OpenID Connect, endpoints discovered) or endpoints (plain OAuth 2), not both"
                )
            }
            kind = .openIDConnect(issuer: issuer)
        } else {
            guard let authorization = entry.authorizationEndpoint, let token = entry.tokenEndpoint, let userinfo = entry.userinfoEndpoint,
                let subject = entry.subjectClaim
            else {
                throw Invalid(
                    description:
                        "upstream provider \(entry.id): without an issuer, authorization_endpoint, token_endpoint, userinfo_endpoint and subject_claim are needed"
                )
            }
            kind = .oauth2(
                .init(
                    authorizationEndpoint: authorization, tokenEndpoint: token, userinfoEndpoint: userinfo, subjectClaim: subject,
                    emailClaim: entry.emailClaim, nameClaim: entry.nameClaim))
        }
        let authentication: UpstreamProvider.ClientAuthentication
        if let name = entry.clientAuth {
            guard let value = UpstreamProvider.ClientAuthentication(rawValue: name) else {
                throw Invalid(
                    description:
                        "upstream provider \(entry.id): client_auth must be one of \(UpstreamProvider.ClientAuthentication.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            authentication = value
        } else {
            authentication = secret == nil ? .none : .clientSecretBasic
        }
        let allow = entry.allow
        return UpstreamProvider(
            id: entry.id, displayName: entry.name ?? entry.id, kind: kind, clientID: entry.clientID, clientSecret: secret,
            clientAuthentication: authentication,
            scopes: entry.scopes ?? (entry.issuer != nil ? ["openid", "email", "profile"] : []),
            allowedAlgorithms: entry.allowedAlgorithms.map(Set.init) ?? UpstreamProvider.defaultAlgorithms,
            access: UpstreamAccessRule(
                allowedEmailDomains: allow?.emailDomains ?? [], requiredClaims: allow?.claims ?? [:],
                createsUsers: !(allow?.existingUsersOnly ?? false), allowsAnyone: allow?.anyone ?? false))
    }

    /// Checks the providers: each usable, ids unique, and some way to sign in left.
    func validateUpstreams() throws {
        var seen = Set<String>()
        for provider in upstreamProviders {
            if let problem = provider.problem() { throw Invalid(description: problem) }
            guard seen.insert(provider.id).inserted else { throw Invalid(description: "upstream provider id \(provider.id) is used twice") }
        }
        if !allowsPasswordLogin && upstreamProviders.isEmpty {
            throw Invalid(description: "password sign-in is off and no upstream provider is configured: nobody could sign in")
        }
    }
}
