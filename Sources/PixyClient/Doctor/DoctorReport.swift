import Foundation

/// One finding of `pixy doctor`.
public struct DoctorCheck: Sendable, Codable, Equatable {
    /// How a check came out.
    public enum Verdict: String, Sendable, Codable {
        /// The server does what the clients need.
        case pass
        /// Clients will fail (or the server is unsafe) until this is fixed.
        case fail
        /// Works for some clients, or is weaker than it should be.
        case warn
    }

    /// A stable identifier, e.g. `as.pkce_s256`, for scripts.
    public var id: String
    /// What was checked, in a few words.
    public var title: String
    /// The outcome.
    public var verdict: Verdict
    /// What was seen.
    public var detail: String
    /// One line that says how to fix a failure or warning.
    public var fix: String?
}

/// Everything `pixy doctor` found for one URL.
public struct DoctorReport: Sendable, Codable {
    /// The URL examined.
    public var url: String
    /// The client profile the verdicts are for.
    public var profile: String
    /// The checks in the order they ran.
    public var checks: [DoctorCheck]

    /// True when no check failed.
    public var passed: Bool { !checks.contains { $0.verdict == .fail } }

    /// The check with `id`, if it ran.
    public func check(_ id: String) -> DoctorCheck? { checks.first { $0.id == id } }

    /// The report for people: one line per check (✓, ✗ or !), the fix under each failure, and a
    /// summary line.
    public var text: String {
        var lines = ["pixy doctor \(url) (profile: \(profile))"]
        for check in checks {
            let mark =
                switch check.verdict {
                case .pass: "✓"
                case .fail: "✗"
                case .warn: "!"
                }
            lines.append("\(mark) \(check.title): \(check.detail)")
            if check.verdict != .pass, let fix = check.fix { lines.append("    fix: \(fix)") }
        }
        let failures = checks.filter { $0.verdict == .fail }.count
        let warnings = checks.filter { $0.verdict == .warn }.count
        lines.append(
            failures == 0
                ? "OK: \(checks.count) checks, \(warnings) warning\(warnings == 1 ? "" : "s")"
                : "FAILED: \(failures) of \(checks.count) checks failed, \(warnings) warning\(warnings == 1 ? "" : "s")")
        return lines.joined(separator: "\n")
    }

    /// The report as JSON, for CI.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        struct Document: Encodable {
            let url: String
            let profile: String
            let passed: Bool
            let checks: [DoctorCheck]
        }
        let data = (try? encoder.encode(Document(url: url, profile: profile, passed: passed, checks: checks))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
