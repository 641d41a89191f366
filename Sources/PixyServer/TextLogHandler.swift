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
        var fields = metadata
        if let explicit = event.metadata { fields.merge(explicit) { _, explicit in explicit } }
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var line = timestamp()
        line += " "
        line += event.level.rawValue
        if !label.isEmpty { line += " " }
        line += label
        line += ":"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        line += " [\(event.source)] \(event.message)\n"
        write(Array(line.utf8))
    }
}
