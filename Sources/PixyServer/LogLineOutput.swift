#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization
import struct Foundation.Date

/// Where the log handlers write: whole lines, each with one `write(2)` under a lock so lines from
/// different threads never interleave, and with no stdio buffer between a line and the file.
/// Timestamps are formatted once per second and reused: formatting one per request through
/// `strftime` or Foundation's ISO 8601 style was a measurable share of a request
/// (docs/performance.md).
final class LogLineOutput: Sendable {
    /// Standard error, the only place Pixy's logs go (docs/operations.md, "Logs").
    static let standardError = LogLineOutput(fileDescriptor: 2)

    private let fileDescriptor: Int32
    private let lock = Mutex(())
    private let localSecond = Mutex<(second: Int, text: String)>((-1, ""))
    private let utcSecond = Mutex<(second: Int, text: String)>((-1, ""))

    init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    /// Writes `line` (its newline included), retrying short writes and interrupted calls.
    func writeLine(_ line: [UInt8]) {
        lock.withLock { _ in
            line.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0, errno == EINTR {
                        continue
                    } else {
                        return  // nowhere to report a failure to write a log line
                    }
                }
            }
        }
    }

    /// Local time as `%Y-%m-%dT%H:%M:%S%z`, the text format's timestamp (swift-log's
    /// `StreamLogHandler` writes the same).
    func localTimestamp() -> String {
        var now = time(nil)
        let second = Int(now)
        if let cached = localSecond.withLock({ $0.second == second ? $0.text : nil }) { return cached }
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        localSecond.withLock { $0 = (second, text) }
        return text
    }

    /// UTC with milliseconds, RFC 3339 (`2026-01-02T03:04:05.678Z`): the JSON format's `time`.
    func utcTimestamp() -> String {
        let now = Date().timeIntervalSince1970
        let second = Int(now.rounded(.down))
        let milliseconds = min(999, Int((now - Double(second)) * 1000))
        let prefix: String
        if let cached = utcSecond.withLock({ $0.second == second ? $0.text : nil }) {
            prefix = cached
        } else {
            var seconds = time_t(second)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            prefix =
                "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
                + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
            utcSecond.withLock { $0 = (second, prefix) }
        }
        return "\(prefix).\(pad(milliseconds, 3))Z"
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
