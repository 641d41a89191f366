public import Foundation

/// What the client keeps between runs for one resource (or issuer): the tokens and the client
/// they were issued to.
public struct StoredSession: Codable, Sendable, Equatable {
    /// The issuer that issued the tokens.
    public var issuer: String
    /// The client identifier the tokens belong to.
    public var clientID: String
    /// The access token.
    public var accessToken: String
    /// The refresh token, if any; replaced on every rotation (RFC 9700 §4.14.2).
    public var refreshToken: String?
    /// When the access token expires, if the server said (`expires_in`).
    public var expiresAt: Date?
    /// The scopes granted, space-separated.
    public var scope: String

    enum CodingKeys: String, CodingKey {
        case issuer, clientID = "client_id", accessToken = "access_token", refreshToken = "refresh_token"
        case expiresAt = "expires_at", scope
    }

    /// The granted scopes as a set.
    public var scopes: Set<String> { Set(scope.split(separator: " ").map(String.init)) }
}

/// A client registered dynamically (RFC 7591), kept per issuer so that the next run reuses it.
public struct StoredClient: Codable, Sendable, Equatable {
    /// The issued `client_id`.
    public var clientID: String
    /// The redirect URI registered (loopback: any port matches, RFC 8252 §7.3).
    public var redirectURI: String

    enum CodingKeys: String, CodingKey { case clientID = "client_id", redirectURI = "redirect_uri" }
}

/// Where the client keeps tokens and registrations: a JSON file only its owner may read
/// (mode 0600 in a 0700 directory), replaced atomically on every write. A file that others can
/// read is refused rather than used, because it holds bearer credentials.
public actor TokenFile {
    /// The file's location.
    public nonisolated let url: URL

    struct Contents: Codable {
        var clients: [String: StoredClient] = [:]
        var sessions: [String: StoredSession] = [:]
    }

    /// A token file at `url`; nothing is read or written until needed.
    public init(url: URL) { self.url = url }

    /// `$XDG_CONFIG_HOME/pixy/tokens.json`, or `~/.config/pixy/tokens.json`.
    public static var defaultURL: URL {
        let environment = ProcessInfo.processInfo.environment
        let base =
            environment["XDG_CONFIG_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config")
        return base.appendingPathComponent("pixy").appendingPathComponent("tokens.json")
    }

    /// The session kept for `key` (a resource or an issuer).
    public func session(for key: String) throws -> StoredSession? { try read().sessions[key] }

    /// Keeps (or with nil, forgets) the session for `key`.
    public func setSession(_ session: StoredSession?, for key: String) throws {
        try update { $0.sessions[key] = session }
    }

    /// The client registered at `issuer`.
    public func client(for issuer: String) throws -> StoredClient? { try read().clients[issuer] }

    /// Keeps the client registered at `issuer`.
    public func setClient(_ client: StoredClient?, for issuer: String) throws {
        try update { $0.clients[issuer] = client }
    }

    /// Reads, changes and writes the file under an exclusive lock on a lock file beside it, so
    /// that processes sharing the file do not lose each other's rotations.
    func update(_ change: (inout Contents) -> Void) throws {
        try withLock {
            var contents = try read()
            change(&contents)
            try write(contents)
        }
    }

    /// The lock this process holds across a whole refresh, if any.
    private var heldLock: Int32?

    /// Runs `body` holding the file's lock, so that no other process refreshes the same token
    /// between this one's reading it and writing its successor: presenting a token another
    /// process already rotated would be reuse, which revokes the family (RFC 9700 §4.14.2).
    /// The lock is taken without blocking a thread (polled), for at most `timeout`.
    public func whileLocked<T: Sendable>(timeout: Duration = .seconds(30), _ body: @Sendable () async throws -> T) async throws -> T {
        if heldLock != nil { return try await body() }
        try ensureDirectory()
        let lockPath = url.path + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw PixyClientError.tokenFile("cannot open \(lockPath): errno \(errno)") }
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK, ContinuousClock.now < deadline else {
                close(descriptor)
                throw PixyClientError.tokenFile("another process holds \(lockPath)")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        heldLock = descriptor
        defer {
            heldLock = nil
            flock(descriptor, LOCK_UN)
            close(descriptor)
        }
        return try await body()
    }

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        // Inside ``whileLocked`` this process already holds the lock, and the actor makes each
        // read-change-write atomic within the process.
        if heldLock != nil { return try body() }
        try ensureDirectory()
        let lockPath = url.path + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw PixyClientError.tokenFile("cannot open \(lockPath): errno \(errno)") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else { throw PixyClientError.tokenFile("cannot lock \(lockPath): errno \(errno)") }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    /// The directory: created 0700; an existing one must belong to this user and be closed to
    /// others, or another user could swap the file.
    private func ensureDirectory() throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var status = stat()
        guard lstat(directory.path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == getuid(),
            status.st_mode & 0o022 == 0
        else {
            throw PixyClientError.tokenFile("\(directory.path) must be a directory of this user that others cannot write to")
        }
    }

    /// Reads the file without following a symbolic link, and only if this user owns it and
    /// nobody else can read it.
    func read() throws -> Contents {
        let descriptor = open(url.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return Contents() }
            throw PixyClientError.tokenFile("cannot open \(url.path) (errno \(errno)); it must be a regular file, not a link")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_uid == getuid() else {
            throw PixyClientError.tokenFile("\(url.path) must be a regular file owned by this user")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw PixyClientError.tokenFile("\(url.path) can be read by other users; run chmod 600 on it")
        }
        let data = try handle.readToEnd() ?? Data()
        do {
            return try JSONDecoder.tokenFile.decode(Contents.self, from: data)
        } catch {
            throw PixyClientError.tokenFile("\(url.path) is not a token file: \(error)")
        }
    }

    func write(_ contents: Contents) throws {
        let directory = url.deletingLastPathComponent()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .secondsSince1970
        let data = try encoder.encode(contents)
        // Created 0600 before any byte is written, then renamed over the old file (atomic).
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw PixyClientError.tokenFile("cannot create \(temporary.path): errno \(errno)") }
        let written = data.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        let closed = close(descriptor) == 0
        guard written == data.count, synced, closed, rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw PixyClientError.tokenFile("cannot write \(url.path)")
        }
    }
}

extension JSONDecoder {
    static var tokenFile: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}
