import Foundation
import Logging
@testable import PixyServer
import Synchronization
import Testing

/// The log handlers write their lines by hand (docs/performance.md); these tests hold them to
/// the formats docs/operations.md ("Logs") documents.
@Suite("Logs: the text and JSON line formats")
struct LogFormatTests {
    @Test("Text: swift-log's stream format, fields sorted, event fields over the logger's, errors named")
    func textLine() {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "pixy") { label in
            TextLogHandler(label: label, timestamp: { "2026-01-02T03:04:05+0000" }) { bytes in
                lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
            }
        }
        logger[metadataKey: "request_id"] = "r1"
        logger[metadataKey: "status"] = "0"
        logger.info("GET /token 200 1.5ms", metadata: ["status": "200", "method": "GET", "path": "/a b"])
        logger.debug("dropped")
        logger.error("failed", error: LoggedError(), metadata: ["b": "1"])
        logger.info("values", metadata: ["n": .stringConvertible(7), "l": ["x", "y"]])
        var written = lines.withLock { $0 }
        #expect(written.count == 3)
        let list = Logger.Metadata.Value.array(["x", "y"])
        #expect(
            written.popLast()
                == "2026-01-02T03:04:05+0000 info pixy: l=\(list) n=7 request_id=r1 status=0 [PixyHTTPTests] values\n")
        #expect(
            written.first
                == "2026-01-02T03:04:05+0000 info pixy: method=GET path=/a b request_id=r1 status=200 [PixyHTTPTests] GET /token 200 1.5ms\n"
        )
        #expect(
            written.last?.hasPrefix(
                "2026-01-02T03:04:05+0000 error pixy: b=1 error.message=broken error.type=PixyHTTPTests.LoggedError request_id=r1 status=0 [PixyHTTPTests] failed\n"
            ) == true)
    }

    @Test("JSON: the hand-written line is the object JSONSerialization writes, escapes included; nested fields still work")
    func jsonLine() throws {
        let fields: Logger.Metadata = [
            "path": "/a\"b\\c\u{1}/é", "status": "200", "message": "never replaces the message", "z": .stringConvertible(42),
        ]
        let flat = try #require(JSONLogHandler.flatLine(fields, time: "T", level: .info, label: "pixy", message: "m\n\"x\""))
        let reference = JSONLogHandler.serializedLine(fields, time: "T", level: .info, label: "pixy", message: "m\n\"x\"")
        let parsed = try JSONSerialization.jsonObject(with: Data(flat.utf8)) as? NSDictionary
        let expected = try JSONSerialization.jsonObject(with: Data(reference.utf8)) as? NSDictionary
        #expect(parsed != nil && parsed == expected)
        #expect(parsed?["message"] as? String == "m\n\"x\"" && parsed?["z"] as? String == "42")
        #expect(!flat.contains("\n"), "one line per record")
        let order = ["\"label\"", "\"level\"", "\"message\"", "\"path\"", "\"status\"", "\"time\"", "\"z\""].map {
            flat.range(of: $0)?.lowerBound
        }
        #expect(order.allSatisfy { $0 != nil } && order.map { $0! } == order.map { $0! }.sorted(), "keys sorted, as before")

        let nested: Logger.Metadata = ["list": ["a", "b"]]
        #expect(JSONLogHandler.flatLine(nested, time: "T", level: .info, label: "pixy", message: "m") == nil)
        let lines = Mutex<[String]>([])
        let logger = Logger(label: "pixy") { JSONLogHandler(label: $0) { line in lines.withLock { $0.append(line) } } }
        logger.info("m", metadata: nested)
        let line = try #require(lines.withLock { $0.first })
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["list"] as? [String] == ["a", "b"])
    }

    @Test("Timestamps: local time with offset for text, RFC 3339 UTC with milliseconds for JSON, both current")
    func timestamps() throws {
        let output = LogLineOutput(fileDescriptor: -1)
        let local = output.localTimestamp()
        #expect(local.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}/) != nil, "\(local)")
        let utc = output.utcTimestamp()
        #expect(utc.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(utc)")
        let parsed = try Date(utc, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        #expect(abs(parsed.timeIntervalSinceNow) < 5)
    }
}

struct LoggedError: Error, CustomStringConvertible {
    var description: String { "broken" }
}
