import ArgumentParser
import Foundation
import PixyCore
import PixyHTTP
import PixyJWT
import PixyModel
import PixyServer
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the users who sign in on the login page.",
        subcommands: [Add.self, AddUpstream.self, List.self, Remove.self, SetPassword.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (password from a prompt or --password-stdin).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The login name.") var username: String
        @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.") var passwordFromStandardInput = false

        func run() async throws {
            if let problem = Username.problem(with: username) { throw ValidationError(problem) }
            let name = Username.canonical(username)
            let password = try readNewPassword(fromStandardInput: passwordFromStandardInput)
            let stores = try await storeOptions.openStores()
            guard try await stores.users.user(named: name) == nil else { throw CommandFailure("user \(name) already exists") }
            let user = User(
                id: SecureRandom.token(byteCount: 16), username: name,
                passwordHash: try await BcryptPasswordHasher().hash(password), createdAt: Date())
            try await stores.users.save(user)
            print("added user \(name)")
        }
    }

    struct AddUpstream: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-upstream",
            abstract: "Add a user who signs in through an upstream identity provider, by the provider's subject (docs/federation.md).")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "The provider's id, as in the upstreams file.") var provider: String
        @Option(help: "The user's subject at the provider (the ID token's sub, or the configured subject claim).") var subject: String
        @Option(help: "An e-mail address to show until the user first signs in.") var email: String?

        func run() async throws {
            guard !provider.isEmpty, !provider.contains(":"), !subject.isEmpty else {
                throw ValidationError("--provider is a provider id from the upstreams file and --subject is not empty")
            }
            let name = UpstreamIdentity.username(provider: provider, subject: subject)
            let stores = try await storeOptions.openStores()
            guard try await stores.users.user(named: name) == nil else { throw CommandFailure("user \(name) already exists") }
            var user = User(id: SecureRandom.token(byteCount: 16), username: name, passwordHash: "", createdAt: Date())
            user.upstream = UpstreamIdentity(provider: provider, subject: subject, email: email, name: nil)
            try await stores.users.save(user)
            print("added user \(name)")
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a user's password (from a prompt or --password-stdin) and end the user's browser sessions.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The login name.") var username: String
        @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.") var passwordFromStandardInput = false

        func run() async throws {
            if username.hasPrefix("@") { throw CommandFailure("\(username) signs in through an upstream provider and has no password") }
            let password = try readNewPassword(fromStandardInput: passwordFromStandardInput)
            let stores = try await storeOptions.openStores()
            let hash = try await BcryptPasswordHasher().hash(password)
            guard try await storeOptions.offboarding(stores).changePassword(of: username, toHash: hash) else {
                throw CommandFailure("no user \(Username.canonical(username))")
            }
            print("password changed for \(Username.canonical(username)); their browser sessions have ended")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            for user in try await storeOptions.openStores().users.allUsers() {
                let shown = user.upstream?.email.map { "\temail=\($0)" } ?? ""
                print(
                    "\(user.username)\tsub=\(user.id)\tsign-in=\(user.signInMethod)\(shown)\tcreated=\(ISO8601DateFormatter().string(from: user.createdAt))"
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a user: revokes their grants (refresh tokens and live access tokens) and ends their sessions.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The login name.") var username: String

        func run() async throws {
            let stores = try await storeOptions.openStores()
            guard let revoked = try await storeOptions.offboarding(stores).removeUser(named: username) else {
                throw CommandFailure("no user \(Username.canonical(username))")
            }
            print("removed user \(Username.canonical(username)); revoked \(revoked.count) grant(s)")
        }
    }
}

/// Reads a new password from standard input or twice from the terminal; at least 8 characters.
func readNewPassword(fromStandardInput: Bool) throws -> String {
    let password: String
    if fromStandardInput {
        password = readLine(strippingNewline: true) ?? ""
    } else {
        let first = readSecret("Password: ")
        let second = readSecret("Repeat password: ")
        guard first == second else { throw ValidationError("the passwords differ") }
        password = first
    }
    guard password.count >= 8 else { throw ValidationError("the password must have at least 8 characters") }
    return password
}

/// Reads a line from the terminal without echoing it.
func readSecret(_ prompt: String) -> String {
    FileHandle.standardError.write(Data(prompt.utf8))
    var original = termios()
    let isTerminal = tcgetattr(STDIN_FILENO, &original) == 0
    if isTerminal {
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
    }
    defer {
        if isTerminal {
            tcsetattr(STDIN_FILENO, TCSANOW, &original)
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }
    return readLine(strippingNewline: true) ?? ""
}

struct Clients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage pre-registered clients.", subcommands: [Add.self, List.self, Remove.self, Prune.self])

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove dynamically registered clients unused for a while (pre-registered ones are kept).")
        @OptionGroup var storeOptions: StoreOptions
        @Option(name: .customLong("unused-for"), help: "e.g. 30d, 12h, 90m, 3600s.") var unusedFor: String
        @Flag(name: .customLong("dry-run"), help: "Only list what would be removed.") var dryRun = false

        func run() async throws {
            let duration = try parseDuration(unusedFor)
            let stores = try await storeOptions.openStores()
            let stale = ClientPruning.stale(try await stores.clients.allClients(), unusedFor: duration, now: Date())
            for client in stale {
                if !dryRun { _ = try await storeOptions.offboarding(stores).removeClient(withID: client.clientID) }
                print("\(dryRun ? "would remove" : "removed") \(client.clientID)\t\(client.clientName ?? "-")")
            }
            print("\(stale.count) client(s) \(dryRun ? "would be " : "")pruned")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a client.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(name: .customLong("client-id"), help: "The client_id (default: random).") var clientID: String?
        @Option(name: .customLong("redirect-uri"), help: "A redirect URI (repeat for several).") var redirectURIs: [String] = []
        @Option(help: "A name shown on the consent page.") var name: String?
        @Option(name: .customLong("auth-method"), help: "none (public, default), client_secret_basic or client_secret_post.")
        var authMethod: String = "none"
        @Option(help: "Space-separated scopes the client may request (default: any supported).") var scope: String?
        @Flag(name: .customLong("skip-consent"), help: "First-party client: skip the consent page.") var skipConsent = false
        @Option(name: .customLong("grant-type"), help: "authorization_code and/or refresh_token (repeat; default both).")
        var grantTypes: [String] = ["authorization_code", "refresh_token"]
        @Flag(name: .customLong("resource-server"), help: "A resource server: may call /introspect (needs a secret auth method).")
        var isResourceServer = false

        func run() async throws {
            guard !redirectURIs.isEmpty else { throw ValidationError("give at least one --redirect-uri") }
            guard let method = ClientAuthenticationMethod(rawValue: authMethod) else {
                throw ValidationError("--auth-method must be none, client_secret_basic or client_secret_post")
            }
            for uri in redirectURIs {
                do { try RedirectURIPolicy.validate(uri) } catch { throw ValidationError(error.description) }
            }
            let grants = try grantTypes.map { value -> GrantType in
                guard let grant = GrantType(rawValue: value) else { throw ValidationError("unknown grant type \(value)") }
                return grant
            }
            guard grants.contains(.authorizationCode) else { throw ValidationError("--grant-type must include authorization_code") }
            var parsedScope: Scope?
            if let scope {
                guard let value = Scope(parsing: scope) else { throw ValidationError("--scope is not a valid scope list") }
                parsedScope = value
            }
            if let clientID, ClientIDMetadataDocument.isDocumentURL(clientID) || clientID.lowercased().hasPrefix("https://") {
                throw ValidationError(
                    "--client-id must not be an https URL: those name Client ID Metadata Documents, fetched from that URL")
            }
            if let scope, let parsed = Scope(parsing: scope) {
                let supported = Scope(parsing: environmentValue("SCOPES") ?? "read write") ?? .empty
                let unsupported = parsed.tokens(notIn: supported)
                if !unsupported.isEmpty {
                    FileHandle.standardError.write(
                        Data(
                            "warning: \(unsupported.joined(separator: " ")) is not in the server's scopes (\(supported)); requests for it will be refused unless pixy serve --scopes lists it\n"
                                .utf8))
                }
            }
            if isResourceServer, !method.isConfidential {
                throw ValidationError("--resource-server needs --auth-method client_secret_basic or client_secret_post")
            }
            if let name, TextSafety.containsInvisibleOrControl(name) {
                throw ValidationError("--name contains a control or invisible character")
            }
            let stores = try await storeOptions.openStores()
            let id = ClientID(clientID ?? SecureRandom.token(byteCount: 16))
            guard try await stores.clients.client(withID: id) == nil else { throw CommandFailure("client \(id) already exists") }
            var secret: String?
            if method.isConfidential { secret = SecureRandom.token(byteCount: 32) }
            var client = Client(
                clientID: id, clientName: name, redirectURIs: redirectURIs, tokenEndpointAuthMethod: method,
                secretHash: secret.map(SecretHash.sha256Hex), grantTypes: grants, scope: parsedScope,
                isDynamicallyRegistered: false, isConsentSkipped: skipConsent, createdAt: Date())
            client.isResourceServer = isResourceServer
            try await stores.clients.save(client)
            print("client_id=\(id)")
            if let secret { print("client_secret=\(secret)\n(shown once; only its hash is stored)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            for client in try await storeOptions.openStores().clients.allClients() {
                let kind = client.isDynamicallyRegistered ? "dynamic" : "pre-registered"
                let flags = (client.maySkipConsent ? "\tskip-consent" : "") + (client.mayIntrospect ? "\tresource-server" : "")
                print(
                    "\(client.clientID)\t\(client.tokenEndpointAuthMethod.rawValue)\t\(kind)\(flags)\t\(client.clientName ?? "-")\t\(client.redirectURIs.joined(separator: " "))"
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a client: revokes its grants (refresh tokens and live access tokens).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The client_id.") var clientID: String

        func run() async throws {
            let stores = try await storeOptions.openStores()
            guard let revoked = try await storeOptions.offboarding(stores).removeClient(withID: ClientID(clientID)) else {
                throw CommandFailure("no client \(clientID)")
            }
            print("removed client \(clientID); revoked \(revoked.count) grant(s)")
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the ES256 signing keys.", subcommands: [Rotate.self, List.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new signing key and retire the current one.",
            discussion: """
                The retired key stays in the JWKS, and keeps verifying, until every token it signed has
                expired (the access token lifetime). A running server picks the new key up within 30 seconds.
                """)
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let key = try await SigningKeyRing.rotate(in: await storeOptions.openStores().signingKeys, clock: SystemWallClock())
            print("new signing key \(key.kid)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signing keys.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let formatter = ISO8601DateFormatter()
            for key in try await storeOptions.openStores().signingKeys.allSigningKeys() {
                let status = key.retiredAt.map { "retired \(formatter.string(from: $0))" } ?? "signing"
                print("\(key.kid)\t\(key.algorithm)\tcreated \(formatter.string(from: key.createdAt))\t\(status)")
            }
        }
    }
}

/// Parses `30d`, `12h`, `90m` or `3600s`.
func parseDuration(_ text: String) throws -> Duration {
    guard let unit = text.last, let value = Int(text.dropLast()), value >= 0 else {
        throw ValidationError("durations look like 30d, 12h, 90m or 3600s")
    }
    switch unit {
    case "d": return .seconds(value * 86400)
    case "h": return .seconds(value * 3600)
    case "m": return .seconds(value * 60)
    case "s": return .seconds(value)
    default: throw ValidationError("durations look like 30d, 12h, 90m or 3600s")
    }
}

struct Grants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and revoke grants: what each user approved for each client, with its refresh-token family.",
        subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List live grants (revoked ones are marked).")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Only this user's grants (login name).") var user: String?
        @Option(help: "Only this client's grants.") var client: String?

        func run() async throws {
            let stores = try await storeOptions.openStores()
            let owner = try await Grants.owner(user: user, client: client, stores: stores) ?? .everyone
            var grants = try await stores.grants.grants(of: owner)
            if let client, user != nil { grants = grants.filter { $0.clientID.rawValue == client } }
            let formatter = ISO8601DateFormatter()
            var names: [String: String] = [:]
            var clients: [ClientID: (name: String, hosts: String)] = [:]
            for grant in grants {
                if names[grant.subject] == nil {
                    names[grant.subject] = try await stores.users.user(withID: grant.subject)?.username ?? "(removed)"
                }
                if clients[grant.clientID] == nil {
                    // The same name and redirect hosts the user's connected-apps page shows.
                    let client = try await stores.clients.client(withID: grant.clientID)
                    let hosts = Set(client?.redirectURIs.map(RedirectDisplay.host(of:)) ?? []).sorted().joined(separator: ",")
                    clients[grant.clientID] = (client.map(RedirectDisplay.name(of:)) ?? "(removed)", hosts.isEmpty ? "-" : hosts)
                }
                let status = grant.revokedAt.map { "revoked \(formatter.string(from: $0))" } ?? "active"
                let lastUsed = (grant.lastUsedAt ?? grant.createdAt)
                let client = clients[grant.clientID]!
                print(
                    "\(grant.id)\tuser=\(names[grant.subject]!)\tclient=\(grant.clientID)\tname=\(client.name)\tredirect-host=\(client.hosts)\tscope=\(grant.scope.isEmpty ? "-" : grant.scope.description)\tresource=\(grant.resource ?? "-")\tcreated=\(formatter.string(from: grant.createdAt))\tlast-used=\(formatter.string(from: lastUsed))\t\(status)"
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Revoke one grant, or every grant of a user or a client: their refresh tokens stop working and their access tokens turn inactive at /introspect."
        )
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Every grant of this user (login name).") var user: String?
        @Option(help: "Every grant of this client.") var client: String?
        @Argument(help: "A grant id (from `pixy grants list`).") var grantID: String?

        func validate() throws {
            guard [user != nil, client != nil, grantID != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("name exactly one of --user, --client or a grant id")
            }
        }

        func run() async throws {
            let stores = try await storeOptions.openStores()
            let offboarding = storeOptions.offboarding(stores)
            if let grantID {
                guard try await offboarding.revokeGrant(id: grantID) else { throw CommandFailure("no grant \(grantID)") }
                print("revoked grant \(grantID)")
                return
            }
            guard let owner = try await Grants.owner(user: user, client: client, stores: stores) else { return }
            let revoked = try await offboarding.revokeGrants(of: owner)
            print("revoked \(revoked.count) grant(s)")
        }
    }

    /// The owner named by `--user` or `--client`; a `--user` that names nobody is an error.
    static func owner(user: String?, client: String?, stores: PixyStores) async throws -> GrantOwner? {
        if let user {
            guard let found = try await stores.users.user(named: Username.canonical(user)) else {
                throw CommandFailure("no user \(Username.canonical(user))")
            }
            return .user(id: found.id)
        }
        if let client { return .client(ClientID(client)) }
        return nil
    }
}
