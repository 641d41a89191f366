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
        abstract: "Manage the users who sign in on the login page.", subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (password from a prompt or --password-stdin).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The login name.") var username: String
        @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input.") var passwordFromStandardInput = false

        func run() async throws {
            let password = try passwordFromStandardInput ? readLine(strippingNewline: true) ?? "" : promptPassword()
            guard password.count >= 8 else { throw ValidationError("the password must have at least 8 characters") }
            let stores = try await storeOptions.openStores()
            guard try await stores.users.user(named: username) == nil else { throw ValidationError("user \(username) already exists") }
            let user = User(id: SecureRandom.token(byteCount: 16), username: username,
                            passwordHash: try await BcryptPasswordHasher().hash(password), createdAt: Date())
            try await stores.users.save(user)
            print("added user \(username)")
        }

        func promptPassword() throws -> String {
            let first = readSecret("Password: ")
            let second = readSecret("Repeat password: ")
            guard first == second else { throw ValidationError("the passwords differ") }
            return first
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            for user in try await storeOptions.openStores().users.allUsers() {
                print("\(user.username)\tsub=\(user.id)\tcreated=\(ISO8601DateFormatter().string(from: user.createdAt))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The login name.") var username: String

        func run() async throws {
            guard try await storeOptions.openStores().users.removeUser(named: username) else {
                throw ValidationError("no user \(username)")
            }
            print("removed user \(username)")
        }
    }
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
                if !dryRun { _ = try await stores.clients.removeClient(withID: client.clientID) }
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
            let stores = try await storeOptions.openStores()
            let id = ClientID(clientID ?? SecureRandom.token(byteCount: 16))
            guard try await stores.clients.client(withID: id) == nil else { throw ValidationError("client \(id) already exists") }
            var secret: String?
            if method.isConfidential { secret = SecureRandom.token(byteCount: 32) }
            let client = Client(
                clientID: id, clientName: name, redirectURIs: redirectURIs, tokenEndpointAuthMethod: method,
                secretHash: secret.map(SecretHash.sha256Hex), grantTypes: grants, scope: parsedScope,
                isDynamicallyRegistered: false, isConsentSkipped: skipConsent, createdAt: Date())
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
                print("\(client.clientID)\t\(client.tokenEndpointAuthMethod.rawValue)\t\(kind)\(client.maySkipConsent ? "\tskip-consent" : "")\t\(client.clientName ?? "-")\t\(client.redirectURIs.joined(separator: " "))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a client.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The client_id.") var clientID: String

        func run() async throws {
            guard try await storeOptions.openStores().clients.removeClient(withID: ClientID(clientID)) else {
                throw ValidationError("no client \(clientID)")
            }
            print("removed client \(clientID)")
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
