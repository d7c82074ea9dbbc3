// The pg adapter (the only module importing pg): a bounded pool, transactions, migrations under an
// advisory lock, error translation by SQLSTATE, raw access for tests and migrate-users. No UserStore logic.

import pg from 'pg';
import { GatewayError } from '../errors.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { AUDIT_LOCK, LOCK_NAMESPACE, MIGRATION_LOCK, type Queryable } from './postgres-rows.js';
import { copyDump, countRows, createPostgresDumpSource, DUMP_TABLES } from './postgres-transfer.js';
import type { Migration } from './sqlite-migrations.js';
import type { DumpCounts, DumpSource } from './user-dump.js';
import type { UserStoreOptions } from './user-store.js';

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
const QUERY_TIMEOUT_MARGIN_MS = 1_000;
const UNIQUE_VIOLATION = '23505';
// A NUL or an unencodable character in a text value: SQLite stores it, PostgreSQL cannot.
const UNSTORABLE = new Set(['22021', '22P05']);
export const LOCK = (key: number) => `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${key})`;

export function createPool(url: string, options: PostgresStoreOptions, max: number): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    statement_timeout: statementTimeoutMs,
    // The server enforces statement_timeout only while it runs: a frozen server or a silent network
    // answers nothing, and a query would wait for it as long as that lasts. A client-side bound a
    // little past the server's fails it instead (the connection is then dropped by the pool).
    ...(statementTimeoutMs > 0 ? { query_timeout: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS } : {}),
    application_name: 'portcullis',
    keepAlive: true,
    // A process stalled mid-transaction would keep the audit lock and stall every replica's appends.
    idle_in_transaction_session_timeout: 10_000,
  });
  // Without a listener an idle connection's error (the server restarted) would crash the process.
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

export const queryable = (db: pg.Pool | pg.PoolClient): Queryable => ({
  query: async <R extends object>(text: string, values?: readonly unknown[]) =>
    (await db.query<R & pg.QueryResultRow>(text, values === undefined ? undefined : [...values])).rows,
});

// A server that cannot answer now: a FATAL error ends the session (the database refuses connections, an
// administrator or a shutdown ended it, too many connections, a failed login), connection exceptions
// (class 08), and a statement cancelled by statement_timeout.
const UNAVAILABLE_SEVERITIES = new Set(['FATAL', 'PANIC']);
const STATEMENT_TIMEOUT = '57014';

/**
 * The driver could not talk to the server: a FATAL or connection error from it, a socket error
 * (ECONNREFUSED, ECONNRESET...), or one of pg's own plain `Error`s for a connection ended, a connect or
 * query timeout, a client no longer queryable. Errors of our code are TypeErrors and the like, and the
 * server's other answers are DatabaseErrors of severity ERROR.
 */
function unreachable(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? '';
    return (
      UNAVAILABLE_SEVERITIES.has(err.severity ?? '') || code.startsWith('08') || code === STATEMENT_TIMEOUT
    );
  }
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code.startsWith('E') : Object.getPrototypeOf(err) === Error.prototype;
}

/**
 * Foreign errors become GatewayErrors by SQLSTATE (`err.code`) or by class, never by message text: a
 * server that cannot answer is 503 users_unavailable (the client may retry), anything else a 500.
 */
export function translate(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (unreachable(err)) return new GatewayError('users_unavailable', { cause: err });
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

export async function transaction<T>(pool: pg.Pool, work: (db: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // pg-pool takes its own error listener off a client while it is checked out: a connection the server
  // ends between two statements (pg_terminate_backend, a restart, a failover) emits 'error' on the
  // client, which unhandled would end the process. Remember it; the connection is destroyed below.
  const onError = (err: Error): void => {
    broken ??= err;
  };
  client.on('error', onError);
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
    client.removeListener('error', onError);
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

export async function openPool(url: string, options: PostgresStoreOptions, max: number): Promise<pg.Pool> {
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
  // A connection the server ends between two messages emits 'error' on the client, which unheard would
  // end the process; the query in flight rejects on its own.
  client.on('error', () => undefined);
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

/** A unique-constraint violation (SQLSTATE 23505), whatever the statement. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.code === UNIQUE_VIOLATION;
}
