// The SQLite user-store schema as an ordered list of versioned migrations, applied by sqlite-store.ts.
// Append only: a shipped migration is never edited, a change is a new version.

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'users, login records, audit events',
    // STRICT tables: SQLite otherwise stores whatever type it is given, and a text timestamp
    // would silently sort wrong. Times are integer milliseconds since the epoch.
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY CHECK (length(id) = 32),
        email TEXT NOT NULL,
        email_canonical TEXT NOT NULL UNIQUE,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        is_active INTEGER NOT NULL DEFAULT 1,
        is_deleted INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX users_created ON users (created_at, id);

      CREATE TABLE login_records (
        id INTEGER PRIMARY KEY,
        user_id TEXT REFERENCES users (id),
        email TEXT NOT NULL,
        ip TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        success INTEGER NOT NULL,
        reason TEXT,
        at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX login_records_user ON login_records (user_id, at, id);

      -- No foreign key on user_id: an event must be recorded even when it names an unknown id.
      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        user_id TEXT,
        actor TEXT,
        ip TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      CREATE INDEX audit_events_user ON audit_events (user_id, id);
      CREATE INDEX audit_events_type ON audit_events (type, id);
      CREATE INDEX audit_events_at ON audit_events (at);
    `,
  },
  {
    version: 2,
    name: 'account flows: verified address, TOTP, recovery codes, single-use link tokens',
    // No foreign keys to users: migrate-users empties and refills users without knowing these tables.
    // Secrets are stored sealed (TOTP) or as SHA-256 (recovery codes, link tokens), never as given out.
    sql: `
      CREATE TABLE account_security (
        user_id TEXT PRIMARY KEY,
        verified_email TEXT,
        verified_at INTEGER,
        totp_secret TEXT,
        totp_enabled_at INTEGER,
        totp_pending TEXT,
        totp_pending_at INTEGER,
        reset_required INTEGER NOT NULL DEFAULT 0
      ) STRICT;

      CREATE TABLE recovery_codes (
        user_id TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        used_at INTEGER,
        PRIMARY KEY (user_id, code_hash)
      ) STRICT;

      CREATE TABLE account_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
      ) STRICT;
      CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
      CREATE INDEX account_tokens_expiry ON account_tokens (expires_at);
    `,
  },
  {
    version: 3,
    name: 'audit events: keep only the index a query uses (per user)',
    // No query could use the type and time indexes (SQLite plans `@x IS NULL OR col = @x` as a scan),
    // yet every audit event (one or two per login) paid a B-tree insert into each. Listing one user's
    // events now searches audit_events_user (sqlite-store.ts, listAuditOfUser).
    sql: `
      DROP INDEX IF EXISTS audit_events_type;
      DROP INDEX IF EXISTS audit_events_at;
    `,
  },
]);
