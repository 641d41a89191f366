import ArgumentParser
import Foundation
import PixyClient

/// Options shared by the client-side commands.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("client-id"), help: "A client_id registered beforehand (default: register dynamically).")
    var clientID: String?
    @Option(name: .customLong("client-metadata-url"), help: "An https Client ID Metadata Document URL to use as client_id where supported.")
    var clientMetadataURL: String?
    @Option(name: .customLong("token-file"), help: "Where tokens are kept (default: $XDG_CONFIG_HOME/pixy/tokens.json, mode 0600).")
    var tokenFile: String?

    var registration: ClientRegistration {
        ClientRegistration(clientID: clientID, metadataDocument: clientMetadataURL.flatMap(URL.init(string:)))
    }

    var file: TokenFile { TokenFile(url: tokenFile.map { URL(fileURLWithPath: $0) } ?? TokenFile.defaultURL) }
}

/// Reads a secret (a password or a cookie) from standard input, one line, never from the
/// command line where other users could see it in the process list.
func readPasswordFromStandardInput() throws -> String {
    guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("nothing on standard input") }
    return line
}

/// Prints a sign-in URL at once (standard output is buffered when it is a pipe, and a person or
/// a program is waiting for this line).
func showSignInURL(_ url: URL) {
    FileHandle.standardOutput.write(Data("Open this URL to sign in:\n  \(url.absoluteString)\n".utf8))
}

func parseURL(_ string: String) throws -> URL {
    guard let url = URL(string: string), url.scheme == "http" || url.scheme == "https", url.host != nil else {
        throw ValidationError("\(string) is not an http(s) URL")
    }
    return url
}

/// `pixy login URL`: signs in to an MCP server or an authorization server with PKCE and keeps
/// the tokens.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to an MCP server (or an issuer) and keep its tokens.",
        discussion:
            "Opens the browser on the authorization URL (or only prints it with --no-browser) and receives the answer on a loopback port.")

    @Argument(help: "The MCP server URL or the issuer.") var url: String
    @Option(help: "The scopes to ask for, space-separated (default: what the server asks for).") var scope: String?
    @Flag(name: .customLong("no-browser"), help: "Print the authorization URL instead of opening a browser.") var noBrowser = false
    @Option(name: .customLong("user"), help: "Sign in through Pixy's login form as this user (password on stdin).")
    var user: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the password for --user from standard input.") var passwordStdin = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let target = try parseURL(url)
        let agent: UserAgent
        if let user {
            guard passwordStdin else { throw ValidationError("--user needs --password-stdin") }
            agent = PixyFormSignIn(username: user, password: try readPasswordFromStandardInput()).userAgent
        } else if noBrowser {
            agent = .browser { url in showSignInURL(url) }
        } else {
            agent = .systemBrowser
        }
        let oauth = PixyClient(
            configuration: .init(clientName: "pixy CLI", registration: client.registration, userAgent: agent, tokenFile: client.file))
        defer { Task { await oauth.close() } }
        let server = try await oauth.server(for: target)
        let scopes = scope.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let tokens = try await oauth.signIn(to: server, scopes: scopes.isEmpty ? Set(server.challenge?.scope ?? []) : scopes)
        print(
            "Signed in to \(tokens.issuer)\(server.resource.map { " for \($0)" } ?? ""); scopes: \(tokens.scopes.sorted().joined(separator: " "))"
        )
        print("Tokens kept in \(client.file.url.path)")
        await oauth.close()
    }
}

/// `pixy token URL`: prints a valid access token for scripts, refreshing it when needed.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a fresh access token for a URL signed in with `pixy login`, refreshing it when needed.")

    @Argument(help: "The MCP server URL or the issuer.") var url: String
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let target = try parseURL(url)
        var configuration = PixyClient.Configuration(registration: client.registration, tokenFile: client.file)
        configuration.signsInWhenNeeded = false
        let oauth = PixyClient(configuration: configuration)
        do {
            print(try await oauth.accessToken(for: target, scopes: []))
        } catch let error as PixyClientError {
            let message =
                error.code == "login_required"
                ? "not signed in (or the sign-in expired): run `pixy login \(target.absoluteString)`" : error.message
            FileHandle.standardError.write(Data("pixy token: \(message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// `pixy doctor URL`: says whether ChatGPT, Claude and other MCP clients can connect, and how
/// to fix what stops them.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check an MCP server or an authorization server against what MCP clients need.",
        discussion: "Exits 0 when no check fails. With --login it also signs in and probes PKCE enforcement.")

    @Argument(help: "The MCP server URL or the issuer.") var url: String
    @Option(help: "The client whose needs to check: chatgpt, claude or generic.") var profile: String = "generic"
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Also sign in and probe enforcement (browser, or --user with --password-stdin).") var login = false
    @Flag(name: .customLong("no-browser"), help: "With --login and no --user: print each URL instead of opening a browser.")
    var noBrowser = false
    @Option(name: .customLong("user"), help: "Sign in through Pixy's login form as this user (password on stdin).")
    var user: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the password for --user from standard input.") var passwordStdin = false
    @Flag(help: "With --login: follow redirects only, for a server that approves without a person (or with --cookie-stdin).")
    var unattended = false
    @Flag(name: .customLong("cookie-stdin"), help: "With --unattended: read a session cookie (name=value) from standard input.")
    var cookieStdin = false
    @Option(name: .customLong("client-id"), help: "A public client registered beforehand (default: register dynamically).")
    var clientID: String?
    @Option(name: .customLong("redirect-uri"), help: "The redirect URI registered for --client-id.") var redirectURI: String?
    @Option(help: "The scope to ask for in the probes (default: what the server asks for).") var scope: String?
    @Option(name: .customLong("authorization-endpoint"), help: "For a server that publishes no metadata: its authorization endpoint.")
    var authorizationEndpoint: String?
    @Option(name: .customLong("token-endpoint"), help: "For a server that publishes no metadata: its token endpoint.")
    var tokenEndpoint: String?

    func run() async throws {
        let target = try parseURL(url)
        guard let profile = Doctor.Profile(rawValue: profile) else {
            throw ValidationError("--profile must be chatgpt, claude or generic")
        }
        var endpoints: (authorization: URL, token: URL)?
        if let authorizationEndpoint, let tokenEndpoint {
            endpoints = (try parseURL(authorizationEndpoint), try parseURL(tokenEndpoint))
        } else if authorizationEndpoint != nil || tokenEndpoint != nil {
            throw ValidationError("give both --authorization-endpoint and --token-endpoint")
        }
        let http = AsyncHTTPClientHTTP.shared
        var loginOption: Doctor.Login?
        var listener: LoopbackRedirectListener?
        if login || user != nil || unattended {
            let redirect = try redirectURI.map(parseURL)
            if unattended {
                let cookie = cookieStdin ? try readPasswordFromStandardInput() : nil
                loginOption = .unattended(cookie: cookie, http: http, clientID: clientID, redirectURI: redirect)
            } else if let user {
                guard passwordStdin else { throw ValidationError("--user needs --password-stdin") }
                loginOption = .password(
                    username: user, password: try readPasswordFromStandardInput(), http: http, clientID: clientID, redirectURI: redirect)
            } else {
                guard redirect == nil else {
                    throw ValidationError("--redirect-uri applies to --user; a browser login uses a loopback listener")
                }
                let started = try await LoopbackRedirectListener.start()
                listener = started
                let quiet = noBrowser
                loginOption = .browser(listener: started, clientID: clientID) { url in
                    if quiet { showSignInURL(url) } else { try await UserAgent.open(url) }
                }
            }
        }
        let doctor = Doctor(profile: profile, login: loginOption, endpoints: endpoints, scope: scope, http: http)
        let report = await doctor.examine(target)
        listener?.close()
        print(json ? report.json : report.text)
        if !report.passed { throw ExitCode.failure }
    }
}
