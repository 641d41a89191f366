import Logging
import PostgresNIO

/// The schema, one migration per change, recorded in `pixy_schema_migrations` so each runs once
/// per database. Add new migrations at the end; never edit one that has shipped.
enum PostgresMigrations {
    /// Name and SQL of each migration, in order.
    static let all: [(name: String, sql: [String])] = [
        (
            "v1",
            [
                """
                CREATE TABLE pixy_clients (client_id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL,
                    fingerprint TEXT, record TEXT NOT NULL)
                """,
                "CREATE INDEX pixy_clients_fingerprint ON pixy_clients (fingerprint)",
                """
                CREATE TABLE pixy_users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE,
                    created_at DOUBLE PRECISION NOT NULL, record TEXT NOT NULL)
                """,
                "CREATE TABLE pixy_signing_keys (kid TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL, record TEXT NOT NULL)",
                """
                CREATE TABLE pixy_grants (id TEXT PRIMARY KEY, position BIGSERIAL, subject TEXT NOT NULL,
                    client_id TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL, record TEXT NOT NULL)
                """,
                "CREATE INDEX pixy_grants_subject ON pixy_grants (subject)",
                "CREATE INDEX pixy_grants_client ON pixy_grants (client_id)",
                "CREATE INDEX pixy_grants_expiry ON pixy_grants (expires_at)",
                """
                CREATE TABLE pixy_refresh_tokens (key TEXT PRIMARY KEY, grant_id TEXT NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX pixy_refresh_tokens_expiry ON pixy_refresh_tokens (expires_at)",
                "CREATE TABLE pixy_consents (key TEXT PRIMARY KEY, record TEXT NOT NULL)",
                "CREATE TABLE pixy_revoked_tokens (key TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)",
                "CREATE INDEX pixy_revoked_tokens_expiry ON pixy_revoked_tokens (expires_at)",
                "CREATE TABLE pixy_codes (key TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL, record TEXT NOT NULL)",
                "CREATE INDEX pixy_codes_expiry ON pixy_codes (expires_at)",
                "CREATE TABLE pixy_used_codes (key TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL, record TEXT NOT NULL)",
                "CREATE INDEX pixy_used_codes_expiry ON pixy_used_codes (expires_at)",
                "CREATE TABLE pixy_sessions (key TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL, record TEXT NOT NULL)",
                "CREATE INDEX pixy_sessions_expiry ON pixy_sessions (expires_at)",
                """
                CREATE TABLE pixy_pending_authorizations (key TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL,
                    record TEXT NOT NULL)
                """,
                "CREATE INDEX pixy_pending_authorizations_expiry ON pixy_pending_authorizations (expires_at)",
                """
                CREATE TABLE pixy_login_failures (key TEXT PRIMARY KEY, count INTEGER NOT NULL,
                    ends_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE pixy_rate_buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,
                    updated_at DOUBLE PRECISION NOT NULL, full_at DOUBLE PRECISION NOT NULL, allowed BOOLEAN NOT NULL)
                """,
            ]
        )
    ]

    /// Tables whose rows carry `expires_at` and are swept once it passes.
    static let expiringTables = [
        "pixy_codes", "pixy_used_codes", "pixy_sessions", "pixy_pending_authorizations", "pixy_revoked_tokens",
        "pixy_grants", "pixy_refresh_tokens",
    ]

    /// An arbitrary constant: the advisory-lock key under which migrations run, so processes
    /// starting together apply each migration once between them.
    static let lockKey: Int64 = 0x7069_7879_6d69_6772

    /// Applies the migrations that have not run, in one transaction under an advisory lock, and
    /// returns their names (empty when the schema is up to date).
    static func apply(on client: PostgresClient, logger: Logger) async throws -> [String] {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS pixy_schema_migrations (name TEXT PRIMARY KEY,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                    """, logger: logger)
                var applied: Set<String> = []
                for try await name in try await connection.query("SELECT name FROM pixy_schema_migrations", logger: logger)
                    .decode(String.self)
                {
                    applied.insert(name)
                }
                var names: [String] = []
                for migration in all where !applied.contains(migration.name) {
                    for statement in migration.sql {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO pixy_schema_migrations (name) VALUES (\(migration.name))", logger: logger)
                    names.append(migration.name)
                }
                try await connection.query("COMMIT", logger: logger)
                return names
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}
