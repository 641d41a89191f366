import Foundation

/// The members of a JWS protected header (RFC 7515 §4.1) that Pixy checks before it verifies a
/// signature: the issuer's own verifier (PixyJWT) and a resource server's (PixyResource) read it
/// here, the same way.
public struct JOSEHeader: Sendable, Equatable {
    /// `alg` (RFC 7515 §4.1.1).
    public var algorithm: String?
    /// `typ` (RFC 7515 §4.1.9); RFC 9068 §2.1 sets it to `at+jwt` for access tokens.
    public var type: String?
    /// `kid` (RFC 7515 §4.1.4).
    public var keyID: String?
    /// Whether every member is a string and none is `crit` (RFC 7515 §4.1.11). Pixy issues only
    /// such headers, so its own verifier refuses any other shape before checking a signature.
    public var isPlain: Bool

    /// Reads the header of a token in the compact serialization (RFC 7515 §7.1: three base64url
    /// parts separated by dots). `nil` when the token has another shape or the header is not a
    /// JSON object; members that are not strings read as absent.
    public init?(compactToken token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = Base64URL.decode(String(parts[0])),
            let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        else { return nil }
        algorithm = object["alg"] as? String
        type = object["typ"] as? String
        keyID = object["kid"] as? String
        isPlain = object["crit"] == nil && object.values.allSatisfy { $0 is String }
    }
}
