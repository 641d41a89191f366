import GRDB

extension SQLiteStore {
    /// The schema, one migration per change; GRDB records which have run, so each runs once per
    /// database file. Add new migrations at the end; never edit one that has shipped.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE clients (client_id TEXT PRIMARY KEY NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE TABLE users (id TEXT PRIMARY KEY NOT NULL, username TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE TABLE signing_keys (kid TEXT PRIMARY KEY NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE TABLE authorization_codes (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);
                    CREATE TABLE sessions (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE INDEX sessions_expiry ON sessions(expires_at);
                    CREATE TABLE pending_authorizations (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE INDEX pending_authorizations_expiry ON pending_authorizations(expires_at);
                    """)
        }
        migrator.registerMigration("v2-token-status") { db in
            try db.execute(
                sql: """
                    CREATE TABLE revoked_tokens (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL);
                    CREATE INDEX revoked_tokens_expiry ON revoked_tokens(expires_at);
                    CREATE TABLE used_codes (key TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE INDEX used_codes_expiry ON used_codes(expires_at);
                    """)
        }
        migrator.registerMigration("v3-grants") { db in
            try db.execute(
                sql: """
                    CREATE TABLE grants (id TEXT PRIMARY KEY NOT NULL, expires_at REAL NOT NULL, record TEXT NOT NULL);
                    CREATE INDEX grants_expiry ON grants(expires_at);
                    CREATE TABLE refresh_tokens (key TEXT PRIMARY KEY NOT NULL, grant_id TEXT NOT NULL, expires_at REAL NOT NULL);
                    CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
                    """)
        }
        migrator.registerMigration("v4-consents") { db in
            try db.execute(sql: "CREATE TABLE consents (key TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL)")
        }
        migrator.registerMigration("v5-registration-fingerprint") { db in
            try db.execute(
                sql: """
                    ALTER TABLE clients ADD COLUMN fingerprint TEXT;
                    CREATE INDEX clients_fingerprint ON clients(fingerprint);
                    """)
        }
        migrator.registerMigration("v6-grant-owners") { db in
            // Offboarding lists a user's or a client's grants: index them by owner.
            try db.execute(
                sql: """
                    ALTER TABLE grants ADD COLUMN subject TEXT;
                    ALTER TABLE grants ADD COLUMN client_id TEXT;
                    UPDATE grants SET subject = json_extract(record, '$.subject'), client_id = json_extract(record, '$.clientID');
                    CREATE INDEX grants_subject ON grants(subject);
                    CREATE INDEX grants_client ON grants(client_id);
                    """)
        }
        return migrator
    }
}
