import Synchronization

/// The decoded form of recently read durable records, keyed by their exact stored text.
///
/// Decoding a client or user record (JSON, ``StoredRecordCoding``) was the largest single cost
/// of a flow on the SQLite store (docs/performance.md), and every flow reads the same client and
/// user twice. The store still reads the row on every call, so a removed or changed record is
/// seen at once: only text identical to what was decoded before is answered from here, and
/// identical text decodes to an identical value. Nothing is ever served that the store did not
/// just return. Bounded: when `capacity` entries are held, the cache starts over.
public final class DecodedRecordCache<Value: Decodable & Sendable>: Sendable {
    private let entries = Mutex<[[UInt8]: Value]>([:])
    private let capacity: Int

    /// A cache holding at most `capacity` records.
    public init(capacity: Int = 256) {
        self.capacity = capacity
    }

    /// The record `text` decodes to (``StoredRecordCoding/decode(_:_:)``), remembered for the
    /// next read of the same text. Throws what decoding throws.
    public func decode(_ text: String) throws -> Value {
        // Keyed by the UTF-8 bytes, not the String: String equality treats canonically
        // equivalent text ("é" precomposed or not) as equal, and the stored bytes are what counts.
        let key = Array(text.utf8)
        if let known = entries.withLock({ $0[key] }) { return known }
        let value = try StoredRecordCoding.decode(Value.self, text)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
        return value
    }

    /// How many records are held (for tests).
    public var count: Int { entries.withLock { $0.count } }
}
