import Foundation
import PixyCore
import Testing

@Suite("Stored records: decoded once per distinct text, never served stale")
struct DecodedRecordCacheTests {
    private func text(_ user: User) throws -> String { try StoredRecordCoding.encode(user) }

    @Test("The same text decodes to the same record; changed text is decoded afresh")
    func sameTextSameRecord() throws {
        let cache = DecodedRecordCache<User>(capacity: 8)
        let alice = User(id: "u1", username: "alice", passwordHash: "h1", createdAt: Date(timeIntervalSince1970: 1))
        #expect(try cache.decode(text(alice)) == alice)
        #expect(try cache.decode(text(alice)) == alice)
        #expect(cache.count == 1)
        var changed = alice
        changed.passwordHash = "h2"
        #expect(try cache.decode(text(changed)) == changed, "a changed record is never answered with its old form")
        #expect(cache.count == 2)
    }

    @Test("Canonically equivalent but different bytes are different records")
    func bytesNotCharacters() throws {
        let cache = DecodedRecordCache<User>(capacity: 8)
        let precomposed = User(id: "u1", username: "caf\u{E9}", passwordHash: "h", createdAt: Date(timeIntervalSince1970: 1))
        var decomposed = precomposed
        decomposed.username = "cafe\u{301}"
        #expect(precomposed.username == decomposed.username, "Swift strings compare canonically")
        #expect(Array(try cache.decode(text(precomposed)).username.utf8) == Array(precomposed.username.utf8))
        #expect(Array(try cache.decode(text(decomposed)).username.utf8) == Array(decomposed.username.utf8))
        #expect(cache.count == 2)
    }

    @Test("Undecodable text throws every time and is not remembered")
    func corruptTextThrows() {
        let cache = DecodedRecordCache<User>(capacity: 8)
        #expect(throws: (any Error).self) { try cache.decode("{not json") }
        #expect(throws: (any Error).self) { try cache.decode("{not json") }
        #expect(cache.count == 0)
    }

    @Test("Bounded: it never holds more than its capacity")
    func bounded() throws {
        let cache = DecodedRecordCache<User>(capacity: 4)
        for index in 0..<10 {
            let user = User(id: "u\(index)", username: "user\(index)", passwordHash: "h", createdAt: Date(timeIntervalSince1970: 1))
            #expect(try cache.decode(text(user)) == user)
            #expect(cache.count <= 4)
        }
    }
}
