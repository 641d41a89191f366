import Foundation

/// What the operator puts on every page: its own name and logo, shown apart from the client's
/// self-asserted name, and descriptions of its scopes for the consent page (README.md,
/// "Configuration"; docs/threat-model.md on client-supplied names).
public struct PageBranding: Sendable, Equatable {
    /// The operator's name, at the top of every page (default "Pixy").
    public var name: String
    /// The logo: an https URL or a `data:image/png;base64,` / `data:image/svg+xml;base64,` URI
    /// (``isAcceptableLogo(_:)``); none by default.
    public var logo: String?
    /// Text the consent page shows beside each scope token (RFC 6749 §3.3), by token.
    public var scopeDescriptions: [String: String]

    /// Creates the branding; the defaults show "Pixy", no logo and bare scope tokens.
    public init(name: String = "Pixy", logo: String? = nil, scopeDescriptions: [String: String] = [:]) {
        self.name = name
        self.logo = logo
        self.scopeDescriptions = scopeDescriptions
    }

    /// The longest brand name, scope description and inline logo accepted: they are repeated in
    /// every page.
    public static let maximumNameLength = 80
    /// See ``maximumNameLength``.
    public static let maximumDescriptionLength = 200
    /// See ``maximumNameLength``.
    public static let maximumDataLogoLength = 64 * 1024

    /// The page policy without a logo (docs/threat-model.md): nothing may load but inline styles, no
    /// script, no framing, no `<base>`.
    static let strictPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"

    /// The `Content-Security-Policy` of every HTML response: ``strictPolicy`` plus, only when a logo
    /// is configured, an `img-src` naming exactly its source (`data:` or the https origin).
    public var contentSecurityPolicy: String {
        guard let source = logo.flatMap(Self.imageSource(of:)) else { return Self.strictPolicy }
        return Self.strictPolicy + "; img-src " + source
    }

    /// Whether `value` is an acceptable logo: `https://host[:port]/…` (no credentials), or a
    /// base64 `data:` URI of a PNG or SVG image no longer than ``maximumDataLogoLength``.
    public static func isAcceptableLogo(_ value: String) -> Bool {
        imageSource(of: value) != nil
    }

    /// Whether `value` is fit to show as a name or description: not empty, no control
    /// characters, at most `maximumLength` characters.
    public static func isDisplayable(_ value: String, maximumLength: Int) -> Bool {
        !value.trimmingCharacters(in: .whitespaces).isEmpty && value.count <= maximumLength
            && !value.unicodeScalars.contains { CharacterSet.controlCharacters.contains($0) }
    }

    /// The Content-Security-Policy source that admits `logo` (its https origin, or `data:`), or nil
    /// when the logo is not acceptable (docs/operations.md, "Your name on the pages").
    static func imageSource(of logo: String) -> String? {
        for prefix in ["data:image/png;base64,", "data:image/svg+xml;base64,"] where logo.hasPrefix(prefix) {
            let payload = logo.dropFirst(prefix.count)
            guard logo.utf8.count <= maximumDataLogoLength, !payload.isEmpty,
                payload.unicodeScalars.allSatisfy({ base64Alphabet.contains($0) }),
                Data(base64Encoded: String(payload)) != nil
            else { return nil }
            return "data:"
        }
        guard logo.hasPrefix("https://"), let components = URLComponents(string: logo), components.scheme == "https",
            components.user == nil, components.password == nil,
            let host = components.host, !host.isEmpty, host.unicodeScalars.allSatisfy({ hostAlphabet.contains($0) }),
            !logo.unicodeScalars.contains(where: { $0 == ";" || $0 == "," || $0 == " " || $0 == "\"" || $0 == "'" })
        else { return nil }
        return "https://" + host.lowercased() + (components.port.map { ":\($0)" } ?? "")
    }

    private static let base64Alphabet = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    private static let hostAlphabet = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
}
