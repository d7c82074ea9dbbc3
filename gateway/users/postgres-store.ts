// UserStore on PostgreSQL via a bounded pg.Pool (the only module importing pg): versioned migrations on
// open under an advisory lock, audit appends serialised across replicas. Not a cache, not a state store.

import pg from 'pg';
import { GatewayError } from '../errors.js';
import { createAccountData, numberedParams } from './account-data.js';
import { canonicalJson, chainHash, createChainVerifier, GENESIS_HASH, toPlainJson } from './audit-chain.js';
import { canonicalEmail } from './email.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import {
  AUDIT_COLUMNS,
  AUDIT_LOCK,
  LOCK_NAMESPACE,
  LOGIN_COLUMNS,
  MIGRATION_LOCK,
  type PgAuditRow,
  type PgLoginRow,
  type PgUserRow,
  type Queryable,
  toLoginRecord,
  toStoredAuditEvent,
  toUser,
  USER_COLUMNS,
} from './postgres-rows.js';
import { copyDump, countRows, createPostgresDumpSource, DUMP_TABLES } from './postgres-transfer.js';
import type { Migration } from './sqlite-migrations.js';
import type { DumpCounts, DumpSource } from './user-dump.js';
import {
  checkLimit,
  decodeCursor,
  encodeCursor,
  newUserRecord,
  type User,
  type UserStore,
  type UserStoreOptions,
} from './user-store.js';

export interface PostgresStoreOptions extends UserStoreOptions {
  /** Connections per process; each replica and worker has its own pool. Default 10. */
  readonly poolMax?: number;
  /** Server-side limit per statement, advisory-lock waits included. Default 5 s. */
  readonly statementTimeoutMs?: number;
  /** Errors of idle pooled connections (server restart, network cut); the next query reports its own. */
  readonly onIdleError?: (err: Error) => void;
}

const CONNECT_TIMEOUT_MS = 2_000;
const IDLE_TIMEOUT_MS = 30_000;
const UNIQUE_VIOLATION = '23505';
// A NUL or an unencodable character in a text value: SQLite stores it, PostgreSQL cannot.
const UNSTORABLE = new Set(['22021', '22P05']);
const LOCK = (key: number) => `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${key})`;

function createPool(url: string, options: PostgresStoreOptions, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    statement_timeout: options.statementTimeoutMs ?? 5_000,
    application_name: 'portcullis',
    keepAlive: true,
    // A process stalled mid-transaction would keep the audit lock and stall every replica's appends.
    idle_in_transaction_session_timeout: 10_000,
  });
  // Without a listener an idle connection's error (the server restarted) would crash the process.
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

const queryable = (db: pg.Pool | pg.PoolClient): Queryable => ({
  query: async <R extends object>(text: string, values?: readonly unknown[]) =>
    (await db.query<R & pg.QueryResultRow>(text, values === undefined ? undefined : [...values])).rows,
});

/** Foreign errors become GatewayErrors by SQLSTATE (`err.code`), never by message text. */
function translate(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof pg.DatabaseError) {
    // Only the canonical email is unique besides the keys; a key clash stays an internal error.
    if (err.code === UNIQUE_VIOLATION && err.constraint === 'users_email_canonical') {
      return new GatewayError('email_taken', { cause: err });
    }
    if (err.code !== undefined && UNSTORABLE.has(err.code)) {
      return new GatewayError('validation_failed', {
        message: 'a field contains a character that cannot be stored',
        cause: err,
      });
    }
  }
  return new GatewayError('internal_error', { cause: err });
}

async function transaction<T>(pool: pg.Pool, work: (db: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(queryable(client));
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    throw err;
  } finally {
    // A connection that could not roll back is in an unknown state: destroy it, never reuse it.
    client.release(broken);
  }
}

async function migrate(pool: pg.Pool, migrations: readonly Migration[], now: number): Promise<void> {
  const known = migrations.at(-1)?.version ?? 0;
  // Each step takes the same transaction-scoped advisory lock before reading the version, so
  // replicas starting together apply every migration exactly once; the lock ends with the step.
  const step = (migration: Migration | null) =>
    transaction(pool, async (db) => {
      await db.query(LOCK(MIGRATION_LOCK));
      await db.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      const [row] = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
      const found = row?.v ?? 0;
      if (found > known) {
        throw new Error(
          `user database schema version ${found} is newer than this gateway's (${known}): upgrade it`,
        );
      }
      if (migration === null || found >= migration.version) return;
      await db.query(migration.sql);
      await db.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        now,
      ]);
    });
  await step(null);
  for (const migration of migrations) await step(migration);
}

/** host:port/database, never the password: open errors end up in logs. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

async function openPool(url: string, options: PostgresStoreOptions, max: number): Promise<pg.Pool> {
  const pool = createPool(url, options, max);
  try {
    await migrate(pool, POSTGRES_MIGRATIONS, (options.now ?? Date.now)());
    return pool;
  } catch (err) {
    await pool.end().catch(() => {});
    if (err instanceof pg.DatabaseError || (err instanceof Error && 'code' in err)) {
      throw new Error(`cannot open the user store at ${describe(url)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Migrates a database (for tests and tooling) and closes the connection. */
export async function migratePostgres(url: string, migrations = POSTGRES_MIGRATIONS): Promise<void> {
  const pool = createPool(url, {}, 1);
  try {
    await migrate(pool, migrations, Date.now());
  } finally {
    await pool.end();
  }
}

/**
 * Runs one raw SQL statement over a connection of its own and returns its rows: lets tests and
 * operators' tooling reach the database directly (create a database, tamper with an event).
 */
export async function postgresExec(
  url: string,
  sql: string,
  ...params: unknown[]
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    return (await client.query<Record<string, unknown>>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface PostgresTransfer {
  /** The database's contents, in dump order. */
  readonly dump: DumpSource;
  counts(): Promise<DumpCounts>;
  /**
   * Copies `source` in one transaction holding both advisory locks: all of it or nothing. A target
   * with any row is left alone unless `replace`, which empties it first.
   */
  load(
    source: DumpSource,
    replace: boolean,
  ): Promise<{ ok: true; written: DumpCounts } | { ok: false; existing: DumpCounts }>;
  close(): Promise<void>;
}

/** For migrate-users: opens (and migrates) a database for bulk reading and writing. */
export async function openPostgresTransfer(url: string): Promise<PostgresTransfer> {
  const pool = await openPool(url, { statementTimeoutMs: 0 }, 2);
  return {
    dump: createPostgresDumpSource(queryable(pool)),
    counts: () => countRows(queryable(pool)),
    load: (source, replace) =>
      transaction(pool, async (db) => {
        await db.query(LOCK(MIGRATION_LOCK));
        await db.query(LOCK(AUDIT_LOCK));
        const existing = await countRows(db);
        const empty = Object.values(existing).every((n) => n === 0);
        if (!empty && !replace) return { ok: false, existing } as const;
        if (!empty) await db.query(`TRUNCATE ${DUMP_TABLES.join(', ')} RESTART IDENTITY`);
        return { ok: true, written: await copyDump(db, source) } as const;
      }),
    close: () => pool.end(),
  };
}

/** `url` is a postgres:// (or postgresql://) connection URL; resolves once migrations are applied. */
export async function createPostgresUserStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<UserStore> {
  const now = options.now ?? Date.now;
  const pool = await openPool(url, options, options.poolMax ?? 10);
  const db = queryable(pool);
  let closed = false;

  // Every method funnels driver errors through here: callers only ever see GatewayErrors.
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    if (closed) throw new GatewayError('internal_error', { cause: new Error('user store is closed') });
    try {
      return await work();
    } catch (err) {
      throw translate(err);
    }
  }
  const one = async (sql: string, values: unknown[]): Promise<User | null> => {
    const [row] = await db.query<PgUserRow>(sql, values);
    return row === undefined ? null : toUser(row);
  };
  const update = (set: string, values: unknown[], id: string) =>
    guarded(() =>
      one(
        `UPDATE users SET ${set}, updated_at = $${values.length + 1} WHERE id = $${values.length + 2}
           RETURNING ${USER_COLUMNS}`,
        [...values, now(), id],
      ),
    );

  return {
    createUser: (input) =>
      guarded(async () => {
        const at = now();
        const user = newUserRecord(input, at);
        await db.query(
          `INSERT INTO users (id, email, email_canonical, first_name, last_name, first_name_folded,
             last_name_folded, password_hash, roles, is_active, is_deleted, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, false, $10, $10)`,
          [
            user.id,
            user.email,
            user.email_canonical,
            user.first_name,
            user.last_name,
            canonicalEmail(user.first_name),
            canonicalEmail(user.last_name),
            user.password_hash,
            JSON.stringify(user.roles),
            at,
          ],
        );
        return user;
      }),
    findByEmail: (email) =>
      guarded(() =>
        one(`SELECT ${USER_COLUMNS} FROM users WHERE email_canonical = $1`, [canonicalEmail(email)]),
      ),
    findById: (id) => guarded(() => one(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id])),
    updatePasswordHash: (id, hash) => update('password_hash = $1', [hash], id),
    setRoles: (id, roles) => update('roles = $1', [JSON.stringify([...roles])], id),
    setActive: (id, active) => update('is_active = $1', [active], id),
    softDelete: (id) => update('is_deleted = $1', [true], id),
    searchUsers: (query) =>
      guarded(async () => {
        const limit = checkLimit(query.limit);
        const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
        const q = query.q === undefined ? '' : canonicalEmail(query.q);
        // strpos, not LIKE: % and _ in q are literal characters.
        const rows = await db.query<PgUserRow>(
          `SELECT ${USER_COLUMNS} FROM users
           WHERE ($1::text IS NULL OR strpos(email_canonical, $1) > 0 OR strpos(first_name_folded, $1) > 0
                  OR strpos(last_name_folded, $1) > 0)
             AND ($2::bigint IS NULL OR (created_at, id) > ($2, $3::text))
           ORDER BY created_at, id LIMIT $4`,
          [q === '' ? null : q, after?.created_at ?? null, after?.id ?? null, limit + 1],
        );
        const users = rows.slice(0, limit).map(toUser);
        const last = users.at(-1);
        const next_cursor =
          rows.length > limit && last !== undefined
            ? encodeCursor({ created_at: last.created_at.getTime(), id: last.id })
            : null;
        return { users, next_cursor };
      }),
    recordLogin: (attempt) =>
      guarded(async () => {
        await db.query(`INSERT INTO login_records (${LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
          attempt.user_id,
          attempt.email,
          attempt.ip,
          attempt.user_agent,
          attempt.success,
          attempt.reason,
          now(),
        ]);
      }),
    recentLogins: (userId, limit) =>
      guarded(async () => {
        const rows = await db.query<PgLoginRow>(
          `SELECT ${LOGIN_COLUMNS} FROM login_records WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`,
          [userId, checkLimit(limit)],
        );
        return rows.map(toLoginRecord);
      }),
    // Ids and prev_hash are read under a lock every replica takes: two appends can never both
    // extend the same last event, so the chain never forks. The lock ends with the transaction.
    appendAudit: (event) =>
      guarded(() =>
        transaction(pool, async (tx) => {
          await tx.query(LOCK(AUDIT_LOCK));
          const [last] = await tx.query<{ id: string; hash: string }>(
            'SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1',
          );
          const content = {
            ...event,
            id: Number(last?.id ?? 0) + 1,
            at: now(),
            details: toPlainJson(event.details),
          };
          const prevHash = last?.hash ?? GENESIS_HASH;
          const { type, user_id, actor, ip } = content;
          await tx.query(
            `INSERT INTO audit_events (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
            [
              content.id,
              content.at,
              type,
              user_id,
              actor,
              ip,
              canonicalJson(content.details),
              prevHash,
              chainHash(prevHash, content),
            ],
          );
          return {
            ...content,
            at: new Date(content.at),
            details: content.details as Record<string, unknown>,
          };
        }),
      ),
    listAudit: (query) =>
      guarded(async () => {
        const rows = await db.query<PgAuditRow>(
          `SELECT ${AUDIT_COLUMNS} FROM audit_events
           WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR type = $2)
             AND ($3::bigint IS NULL OR at >= $3)
           ORDER BY id DESC LIMIT $4`,
          [query.user ?? null, query.type ?? null, query.since?.getTime() ?? null, checkLimit(query.limit)],
        );
        return rows.map((row) => {
          const { prev_hash: _p, hash: _h, ...event } = toStoredAuditEvent(row);
          return event;
        });
      }),
    verifyAudit: () =>
      guarded(async () => {
        const verify = createChainVerifier();
        let after = 0;
        for (;;) {
          const rows = await db.query<PgAuditRow>(
            `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT 1000`,
            [after],
          );
          for (const row of rows) {
            let details: unknown;
            try {
              details = JSON.parse(row.details);
            } catch {
              return { ok: false, first_bad_id: Number(row.id) } as const;
            }
            const bad = verify({ ...row, id: Number(row.id), at: Number(row.at), details });
            if (bad !== null) return { ok: false, first_bad_id: bad } as const;
          }
          if (rows.length < 1000) return { ok: true } as const;
          after = Number(rows.at(-1)?.id);
        }
      }),
    ping: () =>
      guarded(async () => {
        await db.query('SELECT 1');
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
    accountData: createAccountData(
      {
        query: (sql, params) => db.query(numberedParams(sql), params),
        batch: (statements) =>
          transaction(pool, async (tx) => {
            for (const s of statements) await tx.query(numberedParams(s.sql), s.params);
          }),
        isUniqueViolation: (err) => err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION,
      },
      now,
    ),
  };
}
