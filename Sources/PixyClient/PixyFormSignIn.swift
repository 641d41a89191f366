public import Foundation
import NIOConcurrencyHelpers

/// Signs a user in by password through Pixy's login and consent forms, without a browser: the
/// documented form contract (`csrf_token`, `username`, `password` on the login form; `decision`
/// `approve` on the consent form). For scripts, tests and `pixy doctor --login`; people use a
/// browser. It keeps the session cookie, so later authorization requests skip the login.
public final class PixyFormSignIn: Sendable {
    private let username: String?
    private let password: String
    private let http: any ClientHTTP
    /// Cookies per origin (scheme, host, port), so that one server's session never goes to another.
    private let cookies = NIOLockedValueBox<[String: [String: String]]>([:])
    /// A cookie the user gave for the server being examined: sent only to the origin of the
    /// first authorization request this agent follows.
    private let givenCookie: (name: String, value: String)?
    private let givenCookieOrigin = NIOLockedValueBox<String?>(nil)

    /// Where an authorization request ended.
    public enum Outcome: Sendable {
        /// The server redirected to the client's redirect URI with this URL.
        case redirect(URL)
        /// The server answered with a page that is neither a form this agent knows nor a
        /// redirect (for example an error page for an invalid request).
        case page(status: Int, text: String)
    }

    /// An agent for `username` with `password`.
    public init(username: String, password: String, http: any ClientHTTP = AsyncHTTPClientHTTP.shared) {
        self.username = username
        self.password = password
        self.http = http
        givenCookie = nil
    }

    /// An agent that only follows redirects, sending `cookie` (a `name=value` session cookie)
    /// if given: for servers that approve without a person, or a session made elsewhere. It
    /// stops on a login form.
    public init(cookie: String?, http: any ClientHTTP = AsyncHTTPClientHTTP.shared) {
        username = nil
        password = ""
        self.http = http
        givenCookie = cookie.flatMap { cookie in
            cookie.firstIndex(of: "=").map { (String(cookie[..<$0]), String(cookie[cookie.index(after: $0)...])) }
        }
    }

    /// This agent as a ``UserAgent``: a page instead of a redirect is an error.
    public var userAgent: UserAgent {
        .automatic { [self] url, redirectURI in
            switch try await self.follow(url, until: redirectURI) {
            case .redirect(let response): return response
            case .page(let status, let text):
                throw PixyClientError.authorization("the server answered HTTP \(status) instead of redirecting: \(text.prefix(200))")
            }
        }
    }

    /// Follows an authorization request through login and consent until the server redirects
    /// to `redirectURI` (which is never requested) or stops on a page.
    /// The cookie, the password and the consent go only to the authorization endpoint's origin:
    /// a redirect or a form elsewhere ends the walk as a page.
    public func follow(_ url: URL, until redirectURI: URL) async throws -> Outcome {
        givenCookieOrigin.withLockedValue { $0 = $0 ?? Self.origin(of: url) }
        var response = try await request("GET", url, form: nil)
        var current = url
        for _ in 0..<8 {
            if (300..<400).contains(response.status), let location = response.header("Location"),
                let next = URL(string: location, relativeTo: current)?.absoluteURL
            {
                if Self.isRedirect(next, to: redirectURI) { return .redirect(next) }
                guard Self.sameOrigin(next, url) else {
                    return .page(status: response.status, text: "redirected to another origin: \(next.host ?? "")")
                }
                current = next
                response = try await request("GET", next, form: nil)
                continue
            }
            let page = response.text
            guard response.status == 200, let csrf = Self.capture(#"name="csrf_token" value="([^"]+)""#, in: page),
                let action = Self.capture(#"<form method="post" action="([^"]+)""#, in: page).map(Self.unescape),
                let target = URL(string: action, relativeTo: current)?.absoluteURL, Self.sameOrigin(target, url)
            else { return .page(status: response.status, text: page) }
            if page.contains(#"name="password""#), let username {
                response = try await request("POST", target, form: [("username", username), ("password", password), ("csrf_token", csrf)])
            } else if page.contains(#"name="decision""#) {
                response = try await request("POST", target, form: [("decision", "approve"), ("csrf_token", csrf)])
            } else {
                return .page(status: response.status, text: page)
            }
            current = target
        }
        return .page(status: response.status, text: "too many steps")
    }

    private func request(_ method: String, _ url: URL, form: [(String, String)]?) async throws -> ClientHTTPResponse {
        var headers: [(String, String)] = []
        let origin = Self.origin(of: url)
        var jar = cookies.withLockedValue { $0[origin] ?? [:] }
        if let givenCookie, jar[givenCookie.name] == nil, givenCookieOrigin.withLockedValue({ $0 }) == origin {
            jar[givenCookie.name] = givenCookie.value
        }
        if !jar.isEmpty {
            headers.append(("Cookie", jar.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")))
        }
        let response =
            if let form { try await http.postForm(url, form, headers: headers) } else { try await http.get(url, headers: headers) }
        for (name, value) in response.headers where name.lowercased() == "set-cookie" {
            guard let pair = value.split(separator: ";").first, let equals = pair.firstIndex(of: "=") else { continue }
            let key = pair[..<equals].trimmingCharacters(in: .whitespaces)
            let cookie = String(pair[pair.index(after: equals)...])
            cookies.withLockedValue { $0[origin, default: [:]][key] = cookie.isEmpty ? nil : cookie }
        }
        return response
    }

    static func origin(of url: URL) -> String { "\(url.scheme ?? "")://\(url.host ?? ""):\(url.port ?? -1)" }

    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        a.scheme == b.scheme && a.host == b.host && a.port == b.port
    }

    static func isRedirect(_ url: URL, to redirectURI: URL) -> Bool {
        url.scheme == redirectURI.scheme && url.host == redirectURI.host && url.port == redirectURI.port && url.path == redirectURI.path
    }

    static func capture(_ pattern: String, in text: String) -> String? {
        guard let expression = try? NSRegularExpression(pattern: pattern),
            let match = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let range = Range(match.range(at: 1), in: text)
        else { return nil }
        return String(text[range])
    }

    static func unescape(_ html: String) -> String {
        html.replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&#x3D;", with: "=")
            .replacingOccurrences(of: "&#61;", with: "=").replacingOccurrences(of: "&quot;", with: "\"")
    }
}
