import PixyServer
import Testing

@Suite("Stores: a durable store and an ephemeral store, named on the command line (docs/operations.md, Stores)")
struct StoreConfigurationTests {
    @Test("--store takes sqlite, memory, redis:// and postgres:// URLs; anything else is refused")
    func durableStores() throws {
        var configuration = Configuration()
        try configuration.setStore("postgres://pixy:secret@db.internal:5432/pixy?sslmode=verify-full")
        #expect(configuration.store == .postgres)
        try configuration.setStore("postgresql://pixy@127.0.0.1/pixy")
        #expect(configuration.store == .postgres)
        try configuration.setStore("redis://127.0.0.1:6379")
        #expect(configuration.store == .redis)
        try configuration.setStore("sqlite")
        #expect(configuration.store == .sqlite)
        for refused in ["memcached://127.0.0.1:11211", "mysql://x", "redis", "postgres", ""] {
            #expect(throws: Configuration.Invalid.self, "\(refused)") { try configuration.setStore(refused) }
        }
    }

    @Test("--ephemeral-store takes memory, redis:// and memcached:// lists; by default the durable store holds everything")
    func ephemeralStores() throws {
        var configuration = Configuration()
        #expect(configuration.ephemeralStore == nil)
        try configuration.setEphemeralStore("memcached://10.0.0.1:11211,10.0.0.2:11211")
        #expect(configuration.ephemeralStore == .memcached)
        #expect(configuration.ephemeralStoreURL == "memcached://10.0.0.1:11211,10.0.0.2:11211")
        try configuration.setEphemeralStore("rediss://cache.internal:6380")
        #expect(configuration.ephemeralStore == .redis)
        try configuration.setEphemeralStore("memory")
        #expect(configuration.ephemeralStore == .memory && configuration.ephemeralStoreURL == nil)
        for refused in ["sqlite", "postgres://x/y", "memcached", "http://x"] {
            #expect(throws: Configuration.Invalid.self, "\(refused)") { try configuration.setEphemeralStore(refused) }
        }
    }

    @Test("docs/security.md §10: the store description printed at start and in errors never carries a password")
    func descriptionHidesPasswords() throws {
        var configuration = Configuration()
        try configuration.setStore("postgres://pixy:hunter2-secret@db.internal:5432/pixy?sslmode=require")
        try configuration.setEphemeralStore("redis://:other-secret@cache.internal:6379/1")
        let description = configuration.storeDescription
        #expect(!description.contains("hunter2-secret") && !description.contains("other-secret"))
        #expect(description.contains("db.internal:5432/pixy") && description.contains("cache.internal:6379"))
        #expect(configuration.storeLocation == description, "no data directory for a networked store")
    }
}
