import Foundation

/// The one form a username has (docs/threat-model.md, "login limits"): Unicode NFC, lower case.
/// `users add`, login and every admin command canonicalize the same way, so `Alice`, `alice` and
/// a decomposed `é` name one account and share one failed-login counter.
public enum Username {
    /// Longest username accepted.
    public static let maximumLength = 128

    /// The canonical form of `name` (what is stored and looked up). A name starting with `@`
    /// names an upstream identity (``UpstreamIdentity/username(provider:subject:)``) and is kept
    /// byte for byte: upstream subjects are case-sensitive.
    public static func canonical(_ name: String) -> String {
        if name.hasPrefix("@") { return name }
        return name.precomposedStringWithCanonicalMapping.lowercased()
    }

    /// Why `name` cannot be a username, or `nil` when it can: not empty, not too long, no control,
    /// format (bidi, zero-width) or surrounding white-space characters.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "the username is empty" }
        if name.count > maximumLength { return "the username is longer than \(maximumLength) characters" }
        if name.unicodeScalars.contains(where: TextSafety.isInvisibleOrControl) {
            return "the username contains a control or invisible character"
        }
        if name.first?.isWhitespace == true || name.last?.isWhitespace == true {
            return "the username starts or ends with white space"
        }
        if name.hasPrefix("@") { return "usernames starting with @ name upstream identities (docs/federation.md)" }
        return nil
    }
}

/// Characters that must never reach a page or a key unnoticed.
public enum TextSafety {
    /// C0 and C1 controls, DEL, and the format characters that reorder or hide text: bidi
    /// embeddings, overrides and isolates, zero-width spaces and joiners, the BOM (Unicode
    /// general category Cf covers them all).
    public static func isInvisibleOrControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// Whether `text` contains any such character.
    public static func containsInvisibleOrControl(_ text: String) -> Bool {
        text.unicodeScalars.contains(where: isInvisibleOrControl)
    }
}
