// The SQLite connection under sqlite-store.ts, through better-sqlite3 (the only module importing it):
// opening a file (pragmas, modes), checking and applying migrations, raw statements for tooling, and the
// runner the account-data SQL goes through. The UserStore itself is sqlite-store.ts.

import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SqlRunner } from './account-data.js';
import { type Migration, SQLITE_MIGRATIONS } from './sqlite-migrations.js';

/** Where the library is, for threads that open connections of their own (checkpoints, audit reads). */
export const BETTER_SQLITE3_PATH = createRequire(import.meta.url).resolve('better-sqlite3');

// Another process (the `portcullis user` CLI) may hold the write lock for a moment. better-sqlite3 waits
// on the event loop, so the wait is short: a longer lock is an error (the audit writer retries).
export const BUSY_TIMEOUT_MS = 250;

export function openSqlite(path: string, fileMustExist: boolean, readonly = false): Database.Database {
  let db: Database.Database;
  try {
    if (path !== ':memory:' && !fileMustExist) {
      // The file holds password hashes, addresses and login history: a folder and a file made here are
      // the process user's alone (SQLite gives -wal and -shm the database file's mode). Existing ones
      // keep the mode the operator gave them.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      try {
        closeSync(openSync(path, 'a', 0o600));
      } catch {
        // SQLite's open below says what is wrong with the path, in the words the operator expects.
      }
    }
    db = new Database(path, { fileMustExist, readonly, timeout: BUSY_TIMEOUT_MS });
    // The first read: a file that is not a database is found here, not at the first query. A read-only
    // connection cannot change the mode: it reads what the gateway left (WAL).
    db.pragma(readonly ? 'journal_mode' : 'journal_mode = WAL');
  } catch (err) {
    // SQLite's own messages ("unable to open database file") do not say which file.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot open the user store at ${path}: ${reason}`, { cause: err });
  }
  // FULL syncs the WAL on every commit: an acknowledged registration survives power loss, not only
  // a process crash. Registrations are rare enough that the fsync is worth it. Login records and audit
  // events are written `relaxed` (below).
  if (!readonly) {
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
  }
  return db;
}

/** A read-only store reads the schema as it is: an older one is the gateway's to migrate, not a reader's. */
export function checkSchema(db: Database.Database, migrations: readonly Migration[]): void {
  const known = migrations.at(-1)?.version ?? 0;
  const hasTable = db
    .prepare<[], number>(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .pluck()
    .get();
  const found = hasTable
    ? (db.prepare<[], number | null>('SELECT max(version) FROM schema_migrations').pluck().get() ?? 0)
    : 0;
  if (found !== known) {
    throw new Error(
      found === 0
        ? 'it holds no user database (no schema): is it the file storage.users names?'
        : `its schema version ${found} is not this gateway's (${known}): start the matching gateway once to migrate it`,
    );
  }
}

export function migrate(db: Database.Database, migrations: readonly Migration[], now: number): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const current = db.prepare<[], number | null>('SELECT max(version) FROM schema_migrations').pluck();
  const known = migrations.at(-1)?.version ?? 0;
  const found = current.get() ?? 0;
  if (found > known) {
    throw new Error(
      `user database schema version ${found} is newer than this gateway's (${known}): upgrade it`,
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    // IMMEDIATE takes the write lock before re-reading the version, so two processes opening the
    // same new file cannot both apply a migration.
    db.transaction(() => {
      if ((current.get() ?? 0) >= migration.version) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now);
    }).immediate();
  }
}

/** Opens (creating if needed) and migrates a database file, then closes it. For tests and tooling. */
export function migrateSqliteFile(path: string, migrations: readonly Migration[] = SQLITE_MIGRATIONS): void {
  const db = openSqlite(path, false);
  try {
    migrate(db, migrations, Date.now());
  } finally {
    db.close();
  }
}

/**
 * Runs one raw SQL statement on an existing database file through a connection of its own and
 * returns the rows it reads. Lets tests (and operators' tooling) reach the file the way someone
 * with file access would, e.g. to tamper with an audit event, without importing better-sqlite3.
 */
export function sqliteExec(path: string, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const db = openSqlite(path, true);
  try {
    const statement = db.prepare<unknown[], Record<string, unknown>>(sql);
    if (statement.reader) return statement.all(...params);
    statement.run(...params);
    return [];
  } finally {
    db.close();
  }
}

export function isSqliteError(err: unknown): err is InstanceType<typeof Database.SqliteError> {
  return err instanceof Database.SqliteError;
}

/** The account-data SQL on this connection; statements are prepared once per text. */
export function sqliteRunner(db: Database.Database): SqlRunner {
  const prepared = new Map<string, Database.Statement<unknown[], object>>();
  const statement = (sql: string) => {
    let s = prepared.get(sql);
    if (s === undefined) {
      s = db.prepare<unknown[], object>(sql);
      prepared.set(sql, s);
    }
    return s;
  };
  return {
    query: async <R extends object>(sql: string, params: readonly unknown[]) => {
      const s = statement(sql);
      if (s.reader) return s.all(...params) as R[];
      s.run(...params);
      return [];
    },
    batch: async (statements) => {
      db.transaction(() => {
        for (const s of statements) statement(s.sql).run(...s.params);
      }).immediate();
    },
    isUniqueViolation: (err) => isSqliteError(err) && err.code === 'SQLITE_CONSTRAINT_UNIQUE',
  };
}
