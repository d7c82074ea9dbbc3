// The SQLite user store: the shared UserStore contract plus what only a file-backed store has
// (folder creation, reopening, migrations, WAL, foreign keys). Real files in a temp folder.

import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../../gateway/users/sqlite-migrations.js';
import {
  AUDIT_OF_USER_SQL,
  AUDIT_SQL,
  createSqliteUserStore,
  migrateSqliteFile,
  sqliteExec,
} from '../../../gateway/users/sqlite-store.js';
import { appendAudit, recordLogin } from '../../support/records.js';
import { runUserStoreSuite } from './user-store.suite.js';

runUserStoreSuite('sqlite', async (options) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-users-'));
  const file = join(dir, 'users.db');
  const store = createSqliteUserStore(file, options);
  return {
    store,
    exec: async (sql) => {
      sqliteExec(file, sql);
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite user store: the file', () => {
  const folder = freshFolderPerTest();

  const user = { email: 'keep@example.com', first_name: 'K', last_name: 'P', password_hash: '$h$' };

  it('creates missing folders and keeps the data across reopening', async () => {
    const file = join(folder(), 'a', 'b', 'users.db');
    const first = createSqliteUserStore(file);
    const created = await first.createUser(user);
    await appendAudit(first, {
      type: 'user_created',
      user_id: created.id,
      actor: null,
      ip: null,
      details: {},
    });
    await first.close();

    const second = createSqliteUserStore(file);
    expect(await second.findByEmail('KEEP@example.com')).toEqual(created);
    expect(await second.verifyAudit()).toMatchObject({ ok: true });
    expect(await rejectionCode(second.createUser(user))).toBe('email_taken');
    await second.close();
  });

  it("SECURITY: a folder and files it creates are the process user's alone (they were 0755/0644 under umask 022)", async () => {
    const previous = process.umask(0o022);
    try {
      const file = join(folder(), 'data', 'users.db');
      const store = createSqliteUserStore(file);
      await store.createUser(user);
      const mode = (path: string) => statSync(path).mode & 0o777;
      expect(mode(join(folder(), 'data'))).toBe(0o700);
      const files = readdirSync(join(folder(), 'data'));
      expect(files).toEqual(expect.arrayContaining(['users.db', 'users.db-wal', 'users.db-shm']));
      for (const name of files) expect(mode(join(folder(), 'data', name)), name).toBe(0o600);
      await store.close();
    } finally {
      process.umask(previous);
    }
  });

  it('applies each migration once: reopening is idempotent', async () => {
    const file = join(folder(), 'users.db');
    for (let i = 0; i < 3; i++) await createSqliteUserStore(file).close();
    const rows = sqliteExec(file, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
  });

  it("audit events carry only the per-user index, which listing one user's events searches", async () => {
    const file = join(folder(), 'users.db');
    await createSqliteUserStore(file).close();
    const indexes = sqliteExec(
      file,
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' ORDER BY name",
    );
    expect(indexes.map((r) => r.name)).toEqual(['audit_events_user']);
    // The store's own statement, with the parameters of a list by user alone.
    const plan = sqliteExec(file, `EXPLAIN QUERY PLAN ${AUDIT_OF_USER_SQL}`, {
      user: 'u',
      type: null,
      since: null,
      until: null,
      before: Number.MAX_SAFE_INTEGER,
      limit: 5,
    });
    // The page's cursor is part of the index search: a page deep in one user's events starts there.
    expect(plan.map((r) => r.detail).join('\n')).toMatch(
      /USING INDEX audit_events_user \(user_id=\? AND id<\?\)/,
    );
  });

  it('a listing without a user starts its backwards read at the page cursor (rowid range), not the newest row', () => {
    const file = join(folder(), 'users.db');
    migrateSqliteFile(file);
    const plan = sqliteExec(file, `EXPLAIN QUERY PLAN ${AUDIT_SQL}`, {
      type: 'lockout',
      since: null,
      until: null,
      before: 1000,
      limit: 5,
    });
    expect(plan.map((r) => r.detail).join('\n')).toMatch(/USING INTEGER PRIMARY KEY \(rowid<\?\)/);
  });

  it('a database from before migration 3 loses the two unused audit indexes and keeps its events', async () => {
    const file = join(folder(), 'users.db');
    const store = await createSqliteUserStore(file);
    const before = await appendAudit(store, {
      type: 'user_disabled',
      user_id: 'a'.repeat(32),
      actor: 'admin',
      ip: '127.0.0.1',
      details: { reason: 'abuse' },
    });
    await store.close();
    // Back to version 2: its indexes, and no record of migration 3.
    sqliteExec(file, 'CREATE INDEX audit_events_type ON audit_events (type, id)');
    sqliteExec(file, 'CREATE INDEX audit_events_at ON audit_events (at)');
    sqliteExec(file, 'DELETE FROM schema_migrations WHERE version >= 3');
    const reopened = await createSqliteUserStore(file);
    const names = sqliteExec(
      file,
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events'",
    );
    expect(names.map((r) => r.name)).toEqual(['audit_events_user']);
    expect(await reopened.listAudit({ user: 'a'.repeat(32), limit: 10 })).toEqual([before]);
    expect(await reopened.verifyAudit()).toMatchObject({ ok: true });
    await reopened.close();
  });

  it('numbers migrations 1, 2, 3… without gaps', () => {
    expect(SQLITE_MIGRATIONS.map((m) => m.version)).toEqual(SQLITE_MIGRATIONS.map((_, i) => i + 1));
  });

  it('rolls back a failing migration whole and records nothing for it', () => {
    const file = join(folder(), 'users.db');
    const broken = {
      version: SQLITE_MIGRATIONS.length + 1,
      name: 'broken',
      sql: 'CREATE TABLE half (a); SELECT * FROM nope;',
    };
    expect(() => migrateSqliteFile(file, [...SQLITE_MIGRATIONS, broken])).toThrow();
    expect(sqliteExec(file, "SELECT name FROM sqlite_master WHERE name = 'half'")).toEqual([]);
    expect(sqliteExec(file, 'SELECT max(version) AS v FROM schema_migrations')).toEqual([
      { v: SQLITE_MIGRATIONS.length },
    ]);
  });

  it('refuses a database written by a newer gateway', () => {
    const file = join(folder(), 'users.db');
    migrateSqliteFile(file);
    sqliteExec(file, "INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    expect(() => createSqliteUserStore(file)).toThrow(/newer/);
  });

  it('uses WAL (readers never wait for the writer)', async () => {
    const file = join(folder(), 'users.db');
    await createSqliteUserStore(file).close();
    expect(sqliteExec(file, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
  });

  it('enforces foreign keys: a login record cannot name a user that does not exist', async () => {
    const store = createSqliteUserStore(join(folder(), 'users.db'));
    const attempt = { email: 'x@example.com', ip: '::1', user_agent: 'UA', success: false, reason: 'x' };
    expect(await rejectionCode(recordLogin(store, { ...attempt, user_id: 'f'.repeat(32) }))).toBe(
      'internal_error',
    );
    await store.close();
  });

  it('sees a registration made by another process on the same file at once', async () => {
    const file = join(folder(), 'users.db');
    const gateway = createSqliteUserStore(file);
    const cli = createSqliteUserStore(file);
    const created = await cli.createUser(user);
    expect((await gateway.findByEmail(user.email))?.id).toBe(created.id);
    expect(await rejectionCode(gateway.createUser(user))).toBe('email_taken');
    await cli.close();
    await gateway.close();
  });
});

describe('sqlite user store: checkpoints', () => {
  const folder = freshFolderPerTest();

  const PAGE = 4096;
  // SQLite's default: a connection that commits past this many WAL pages checkpoints there and then.
  const AUTOCHECKPOINT_PAGES = 1000;
  const attempt = {
    user_id: null,
    email: 'x@example.com',
    ip: '::1',
    user_agent: 'U'.repeat(512),
    success: false,
    reason: 'unknown_email',
  };

  it('never checkpoints on the event loop: a thread of its own copies the WAL into the file', async () => {
    const file = join(folder(), 'users.db');
    const store = createSqliteUserStore(file, { checkpointMs: 100 });
    const before = statSync(file).size;
    // Each call commits before it returns its promise: 2,500 commits, none awaited yet. A checkpoint
    // on the event loop would already have copied pages into the database file.
    const writes = Array.from({ length: 2500 }, () => recordLogin(store, attempt));
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(AUTOCHECKPOINT_PAGES * PAGE);
    expect(statSync(file).size).toBe(before);
    await Promise.all(writes);
    await vi.waitFor(() => expect(statSync(file).size).toBeGreaterThan(before + 100 * PAGE), {
      timeout: 5000,
    });
    await store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(sqliteExec(file, 'SELECT count(*) AS n FROM login_records')).toEqual([{ n: 2500 }]);
  });

  it('a checkpoint thread that fails is reported, and the connection checkpoints itself again', async () => {
    const file = join(folder(), 'users.db');
    const failures: Error[] = [];
    const store = createSqliteUserStore(file, { onCheckpointError: (err) => failures.push(err) });
    // The first write starts the thread, which opens the file by name: moved away by then, so it fails.
    renameSync(file, `${file}.away`);
    await recordLogin(store, attempt);
    await vi.waitFor(() => expect(failures).toHaveLength(1), { timeout: 5000 });
    renameSync(`${file}.away`, file);
    const before = statSync(file).size;
    const writes = Array.from({ length: 2500 }, () => recordLogin(store, attempt));
    // SQLite's own automatic checkpoint is back: past 1,000 pages, commits copy them into the file.
    expect(statSync(file).size).toBeGreaterThan(before);
    await Promise.all(writes);
    await store.close();
    expect(sqliteExec(file, 'SELECT count(*) AS n FROM login_records')).toEqual([{ n: 2501 }]);
  });

  it('a steady stream of records does not grow the WAL without bound (each checkpoint catches up)', async () => {
    const file = join(folder(), 'users.db');
    const store = createSqliteUserStore(file, { checkpointMs: 50 });
    let written = 0;
    /** Records for `ms`, a few per event-loop turn and turn after turn, as a gateway in a login burst. */
    const stream = async (ms: number): Promise<void> => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        await Promise.all(Array.from({ length: 5 }, () => recordLogin(store, attempt)));
        written += 5;
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await stream(500); // the thread has started and checkpointed by now
    const early = statSync(`${file}-wal`).size;
    await stream(1000);
    const late = statSync(`${file}-wal`).size;
    await store.close();
    // The WAL file keeps its largest size; one the writes never let start over grows with them.
    expect(late).toBeLessThan(early * 1.5);
    expect(sqliteExec(file, 'SELECT count(*) AS n FROM login_records')).toEqual([{ n: written }]);
  });

  it('the thread starts with the writes and stops once they stop (an idle gateway keeps no thread)', async () => {
    const threads = () => readdirSync('/proc/self/task').length;
    // The process's other threads must hold still while this one is counted: libuv starts its pool on
    // the first file operation, and a thread of an earlier test may still be exiting.
    await readFile('/proc/self/stat');
    const settled = async (): Promise<number> => {
      for (let last = threads(); ; ) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const now = threads();
        if (now === last) return now;
        last = now;
      }
    };
    const store = createSqliteUserStore(join(folder(), 'users.db'), {
      checkpointMs: 20,
      checkpointIdleMs: 200,
    });
    const alone = await settled();
    await store.findByEmail('x@example.com');
    expect(threads()).toBe(alone);
    await recordLogin(store, attempt);
    await vi.waitFor(() => expect(threads()).toBe(alone + 1), { timeout: 5000 });
    await vi.waitFor(() => expect(threads()).toBe(alone), { timeout: 5000 });
    await recordLogin(store, attempt);
    await vi.waitFor(() => expect(threads()).toBe(alone + 1), { timeout: 5000 });
    await store.close();
    expect(threads()).toBe(alone);
  });
});

/** A new temp folder for each test of the describe block, removed after it: `folder()` names it. */
function freshFolderPerTest(): () => string {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-users-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}

async function rejectionCode(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'resolved';
}
