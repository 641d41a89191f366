public import Foundation
public import Logging
import PixyModel

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
    private let timestamp: @Sendable () -> String

    /// A handler writing to standard error (``LogLineOutput``: one `write(2)` per line).
    public init(label: String) {
        let output = LogLineOutput.standardError
        self.init(label: label, timestamp: { output.utcTimestamp() }) { line in output.writeLine(Array(line.utf8)) }
    }

    /// A handler writing each line (newline included) with `write`: tests capture them.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.init(label: label, timestamp: { Self.timestamp(Date()) }, write: write)
    }

    /// A handler taking its `time` from `timestamp` (tests compare both ways of writing a line).
    init(label: String, timestamp: @escaping @Sendable () -> String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.timestamp = timestamp
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let explicit = event.metadata { fields.merge(explicit) { _, explicit in explicit } }
        let time = timestamp()
        write(
            (Self.flatLine(fields, time: time, level: event.level, label: label, message: "\(event.message)")
                ?? Self.serializedLine(fields, time: time, level: event.level, label: label, message: "\(event.message)")) + "\n")
    }

    /// The line written member by member (``JSONObjectWriter``) when every field is a string,
    /// which is every field Pixy logs; `nil` when one is an array or a dictionary. Keys sorted,
    /// like ``serializedLine(_:time:level:label:message:)``.
    static func flatLine(_ fields: Logger.Metadata, time: String, level: Logger.Level, label: String, message: String) -> String? {
        var members: [(key: String, value: String)] = [("label", label), ("level", level.rawValue), ("message", message), ("time", time)]
        for (key, value) in fields where !["label", "level", "message", "time"].contains(key) {
            switch value {
            case .string(let text): members.append((key, text))
            case .stringConvertible(let convertible): members.append((key, convertible.description))
            case .array, .dictionary: return nil
            }
        }
        members.sort { $0.key < $1.key }
        var writer = JSONObjectWriter(capacity: 512)
        for member in members { writer.add(name: member.key, member.value) }
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    /// The line through `JSONSerialization`, for fields that nest.
    static func serializedLine(_ fields: Logger.Metadata, time: String, level: Logger.Level, label: String, message: String) -> String {
        var object: [String: Any] = [:]
        for (key, value) in fields { object[key] = Self.json(value) }
        object["time"] = time
        object["level"] = level.rawValue
        object["label"] = label
        object["message"] = message
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return #"{"message":"unloggable line"}"#
        }
        return String(decoding: data, as: UTF8.self)
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
