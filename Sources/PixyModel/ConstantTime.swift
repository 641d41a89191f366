/// Comparison whose running time does not depend on where two values first differ.
///
/// RFC 7636 §4.6 has the server compare the recomputed challenge with the stored one; a
/// short-circuiting `==` would leak, through timing, how many leading bytes an attacker got right.
public enum ConstantTime {
    /// Whether `lhs` and `rhs` hold the same bytes. Only the lengths may leak, which are public
    /// here (digests and encoded digests have fixed lengths).
    public static func isEqual(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(lhs, rhs) {
            difference |= left ^ right
        }
        return difference == 0
    }

    /// Whether two strings hold the same UTF-8 bytes, compared in constant time.
    public static func isEqual(_ lhs: String, _ rhs: String) -> Bool {
        isEqual(Array(lhs.utf8), Array(rhs.utf8))
    }
}
