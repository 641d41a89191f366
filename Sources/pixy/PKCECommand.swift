import ArgumentParser
import Foundation
import PixyCore
import PixyModel
#if canImport(Glibc)
    import Glibc
#endif

/// `pixy pkce`: a PKCE pair (RFC 7636), and with `--client-id` the whole walkthrough: the
/// authorize URL with the challenge filled in, the token request with the verifier filled in,
/// and with `--listen` a one-shot loopback redirect listener (RFC 8252 §7.3) that shows the code
/// and prints the finished token request, so a person can finish within the code's lifetime.
/// Output goes through `say` (unbuffered), so a script reading a pipe sees the URL before the
/// listener starts waiting.
struct PKCE: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print a fresh PKCE verifier and its S256 challenge (RFC 7636); with --client-id, the authorize URL and token request too.")

    @Option(help: "Verifier length, 43-128.") var length = CodeVerifier.defaultLength
    @Flag(help: "Draw from the full unreserved set A-Z a-z 0-9 - . _ ~ instead of A-Z a-z 0-9.") var unreserved = false
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .customLong("client-id"), help: "Also print the authorize URL and token request for this client.") var clientID: String?
    @Option(name: .customLong("redirect-uri"), help: "The client's redirect URI (with --client-id).") var redirectURI: String?
    @Option(help: "The issuer (default $PIXY_ISSUER or http://127.0.0.1:8080).") var issuer: String?
    @Option(help: "The scope to ask for (with --client-id).") var scope: String?
    @Flag(help: "Wait on the loopback redirect URI for the browser, show the code there, and print the finished token request.")
    var listen = false

    func validate() throws {
        guard (CodeVerifier.minimumLength...CodeVerifier.maximumLength).contains(length) else {
            throw ValidationError("--length must be between 43 and 128 (RFC 7636 §4.1)")
        }
        if clientID != nil, redirectURI == nil { throw ValidationError("--client-id needs --redirect-uri") }
        if listen {
            guard let redirectURI, clientID != nil, LoopbackListener.Target(redirectURI) != nil else {
                throw ValidationError("--listen needs --client-id and an http://127.0.0.1:PORT/… --redirect-uri")
            }
        }
    }

    func run() throws {
        let pair = PKCEPair.generate(length: length, alphabet: unreserved ? .unreserved : .alphanumeric)
        if json {
            let object = ["code_verifier": pair.verifier.value, "code_challenge": pair.challenge.value, "code_challenge_method": "S256"]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            say(String(decoding: try encoder.encode(object), as: UTF8.self))
        } else {
            say("code_verifier=\(pair.verifier.value)")
            say("code_challenge=\(pair.challenge.value)")
            say("code_challenge_method=S256")
        }
        guard let clientID, let redirectURI else { return }
        let issuer = self.issuer ?? environmentValue("ISSUER") ?? "http://127.0.0.1:8080"
        let state = SecureRandom.token(byteCount: 12)
        var query: [(String, String)] = [
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI), ("state", state),
        ]
        if let scope { query.append(("scope", scope)) }
        query += [("code_challenge", pair.challenge.value), ("code_challenge_method", "S256")]
        let authorizeURL = "\(issuer)/authorize?\(FormParameters.encode(query))"
        func tokenRequest(code: String) -> String {
            "curl -s \(issuer)/token -d grant_type=authorization_code -d client_id=\(shellQuoted(clientID)) "
                + "-d redirect_uri=\(shellQuoted(redirectURI)) -d code_verifier=\(pair.verifier.value) -d code=\(shellQuoted(code))"
        }
        say("")
        say("1. Open this URL in a browser and sign in:")
        say("   \(authorizeURL)")
        guard listen, let target = LoopbackListener.Target(redirectURI) else {
            say("2. Copy the code from the address bar the browser lands on, and exchange it within the code's lifetime")
            say("   (60 s by default; if it expired, open the URL again for a new code):")
            say("   \(tokenRequest(code: "PASTE_CODE"))")
            return
        }
        say("2. Waiting for the browser at \(redirectURI) …")
        let outcome = try LoopbackListener(target: target, state: state).waitForCallback { code in
            "<p>Run this within 60 seconds (if it expired, open the sign-in URL again):</p><pre>\(html(tokenRequest(code: code)))</pre>"
        }
        switch outcome {
        case .code(let code):
            say("3. Signed in. Exchange the code now (it lives 60 s by default; if it expired, open the URL again):")
            say("   \(tokenRequest(code: code))")
        case .error(let error, let description):
            throw CommandFailure("the authorization server answered \(error)\(description.map { ": \($0)" } ?? "")")
        }
    }
}

/// A one-shot HTTP listener on a loopback redirect URI: it answers only the redirect path (a
/// browser's `/favicon.ico` gets 404 and is otherwise ignored), accepts only the `state` it was
/// given, and shows the person a page.
struct LoopbackListener {
    /// Where to listen: an `http://127.0.0.1:PORT/path` redirect URI.
    struct Target {
        let port: UInt16
        let path: String

        init?(_ uri: String) {
            guard let url = URL(string: uri), url.scheme == "http", url.host == "127.0.0.1", let port = url.port,
                let value = UInt16(exactly: port)
            else { return nil }
            self.port = value
            path = url.path.isEmpty ? "/" : url.path
        }
    }

    /// What the redirect carried.
    enum Outcome {
        case code(String)
        case error(String, String?)
    }

    let target: Target
    let state: String

    /// Accepts connections until the redirect with the right `state` arrives.
    func waitForCallback(page: (String) -> String) throws -> Outcome {
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard server >= 0 else { throw CommandFailure("cannot open a socket") }
        defer { close(server) }
        var yes: Int32 = 1
        setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = target.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(server, 8) == 0 else {
            throw CommandFailure("cannot listen on 127.0.0.1:\(target.port): \(String(cString: strerror(errno)))")
        }
        while true {
            let connection = accept(server, nil, nil)
            guard connection >= 0 else { continue }
            defer { close(connection) }
            var buffer = [UInt8](repeating: 0, count: 8192)
            let count = read(connection, &buffer, buffer.count)
            guard count > 0, let line = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\r\n").first else { continue }
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[0] == "GET" else {
                respond(connection, status: "405 Method Not Allowed", body: "Not here."); continue
            }
            let requestTarget = String(parts[1])
            let path = String(requestTarget.split(separator: "?", maxSplits: 1).first ?? "")
            guard path == target.path else { respond(connection, status: "404 Not Found", body: "Not here."); continue }
            let query = requestTarget.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            let parameters = FormParameters(urlEncoded: query)
            guard let parameters, (try? parameters.single("state")) == state else {
                respond(connection, status: "400 Bad Request", body: "This response does not belong to the sign-in this command started.")
                continue
            }
            if let error = parameters.values("error").first {
                respond(connection, status: "200 OK", body: "The sign-in ended with <code>\(html(error))</code>.")
                return .error(error, parameters.values("error_description").first)
            }
            guard let code = parameters.values("code").first else {
                respond(connection, status: "400 Bad Request", body: "No code in this response.")
                continue
            }
            respond(connection, status: "200 OK", body: "<h1>Signed in</h1><p>Your code: <code>\(html(code))</code></p>" + page(code))
            return .code(code)
        }
    }

    private func respond(_ connection: Int32, status: String, body: String) {
        let document =
            "<!doctype html><meta charset=utf-8><title>pixy pkce</title><body style=\"font-family:system-ui;max-width:48rem;margin:2rem auto;overflow-wrap:anywhere\">\(body)</body>"
        let response =
            "HTTP/1.1 \(status)\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
            + "Content-Length: \(document.utf8.count)\r\nConnection: close\r\n\r\n\(document)"
        _ = response.withCString { write(connection, $0, strlen($0)) }
    }
}

/// `value` escaped for HTML text.
func html(_ value: String) -> String {
    value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// `value` quoted for a POSIX shell when it needs it.
func shellQuoted(_ value: String) -> String {
    let safe = value.allSatisfy { $0.isLetter || $0.isNumber || "-._~:/".contains($0) }
    return safe ? value : "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
