public import Logging

/// `pixy serve --log-format text` (the default): swift-log's `StreamLogHandler` line format,
/// `<local time> <level> <label>: <key=value …sorted> [<module>] <message>`, written by Pixy so
/// that the timestamp is formatted once per second and each line is one `write(2)`
/// (``LogLineOutput``; docs/performance.md). Pixy never puts a code, token, password or secret
/// into a log message or its metadata, whatever the format.
public struct TextLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// Messages below this level are dropped.
    public var logLevel: Logger.Level = .info
    /// Metadata added to every message of this logger.
    public var metadata: Logger.Metadata = [:]
    private let write: @Sendable ([UInt8]) -> Void
    private let timestamp: @Sendable () -> String

    /// A handler writing to standard error.
    public init(label: String) {
        let output = LogLineOutput.standardError
        self.init(label: label, timestamp: { output.localTimestamp() }, write: { output.writeLine($0) })
    }

    /// A handler writing each line (newline included) with `write`: tests capture them.
    public init(label: String, timestamp: @escaping @Sendable () -> String, write: @escaping @Sendable ([UInt8]) -> Void) {
        self.label = label
        self.timestamp = timestamp
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The line is built as bytes in one buffer: a `String` grown by interpolation, a merged
        // dictionary and a copy into an array were most of a request log line's cost
        // (docs/performance.md, step 5).
        var fields: [(key: String, value: Logger.Metadata.Value)] = []
        fields.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 2)
        if let explicit = event.metadata, !explicit.isEmpty {
            for field in metadata where explicit[field.key] == nil { fields.append(field) }
            for field in explicit { fields.append(field) }
        } else {
            for field in metadata { fields.append(field) }
        }
        if let error = event.error {
            fields.removeAll { $0.key == "error.message" || $0.key == "error.type" }
            fields.append(("error.message", "\(error)"))
            fields.append(("error.type", "\(String(reflecting: type(of: error)))"))
        }
        fields.sort { $0.key < $1.key }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: timestamp().utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: event.level.rawValue.utf8)
        if !label.isEmpty { line.append(UInt8(ascii: " ")) }
        line.append(contentsOf: label.utf8)
        line.append(UInt8(ascii: ":"))
        for (key, value) in fields {
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            switch value {
            case .string(let text): line.append(contentsOf: text.utf8)
            case .stringConvertible(let convertible): line.append(contentsOf: convertible.description.utf8)
            default: line.append(contentsOf: "\(value)".utf8)
            }
        }
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: event.source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: event.message.description.utf8)
        line.append(UInt8(ascii: "\n"))
        write(line)
    }
}
