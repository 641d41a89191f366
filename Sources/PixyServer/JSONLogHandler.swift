public import Foundation
public import Logging
import Synchronization

/// `pixy serve --log-format json`: one JSON object per line on standard error, for log pipelines
/// (docs/operations.md, "Logs"): `time` (RFC 3339, UTC, milliseconds), `level`, `label`,
/// `message`, then every metadata field (`request_id`, `method`, `path`, `status`,
/// `duration_ms`, `source`, …) as its own key. Pixy never puts a code, token, password or secret
/// into a log message or its metadata, whatever the format.
public struct JSONLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// Messages below this level are dropped.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every message of this logger.
    public var metadata: Logger.Metadata = [:]
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public init(label: String) {
        self.init(label: label) { line in
            standardErrorLock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
        }
    }

    /// A handler writing each line (newline included) with `write`: tests capture them.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [:]
        for (key, value) in metadata { object[key] = Self.json(value) }
        for (key, value) in event.metadata ?? [:] { object[key] = Self.json(value) }
        object["time"] = Self.timestamp(Date())
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = "\(event.message)"
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return
        }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array(let values): return values.map(json)
        case .dictionary(let values): return values.mapValues(json)
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// One writer at a time, so lines from concurrent requests never interleave.
private let standardErrorLock = Mutex(())
