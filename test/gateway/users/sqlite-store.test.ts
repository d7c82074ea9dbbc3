// The SQLite user store: the shared UserStore contract plus what only a file-backed store has
// (folder creation, reopening, migrations, WAL, foreign keys). Real files in a temp folder.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../../gateway/users/sqlite-migrations.js';
import { createSqliteUserStore, migrateSqliteFile, sqliteExec } from '../../../gateway/users/sqlite-store.js';
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
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-users-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const user = { email: 'keep@example.com', first_name: 'K', last_name: 'P', password_hash: '$h$' };

  it('creates missing folders and keeps the data across reopening', async () => {
    const file = join(dir, 'a', 'b', 'users.db');
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
    expect(await second.verifyAudit()).toEqual({ ok: true });
    expect(await rejectionCode(second.createUser(user))).toBe('email_taken');
    await second.close();
  });

  it('applies each migration once: reopening is idempotent', async () => {
    const file = join(dir, 'users.db');
    for (let i = 0; i < 3; i++) await createSqliteUserStore(file).close();
    const rows = sqliteExec(file, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
  });

  it('numbers migrations 1, 2, 3… without gaps', () => {
    expect(SQLITE_MIGRATIONS.map((m) => m.version)).toEqual(SQLITE_MIGRATIONS.map((_, i) => i + 1));
  });

  it('rolls back a failing migration whole and records nothing for it', () => {
    const file = join(dir, 'users.db');
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
    const file = join(dir, 'users.db');
    migrateSqliteFile(file);
    sqliteExec(file, "INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    expect(() => createSqliteUserStore(file)).toThrow(/newer/);
  });

  it('uses WAL (readers never wait for the writer)', async () => {
    const file = join(dir, 'users.db');
    await createSqliteUserStore(file).close();
    expect(sqliteExec(file, 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
  });

  it('enforces foreign keys: a login record cannot name a user that does not exist', async () => {
    const store = createSqliteUserStore(join(dir, 'users.db'));
    const attempt = { email: 'x@example.com', ip: '::1', user_agent: 'UA', success: false, reason: 'x' };
    expect(await rejectionCode(recordLogin(store, { ...attempt, user_id: 'f'.repeat(32) }))).toBe(
      'internal_error',
    );
    await store.close();
  });

  it('sees a registration made by another process on the same file at once', async () => {
    const file = join(dir, 'users.db');
    const gateway = createSqliteUserStore(file);
    const cli = createSqliteUserStore(file);
    const created = await cli.createUser(user);
    expect((await gateway.findByEmail(user.email))?.id).toBe(created.id);
    expect(await rejectionCode(gateway.createUser(user))).toBe('email_taken');
    await cli.close();
    await gateway.close();
  });
});

async function rejectionCode(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: unknown }).code;
  }
  return 'resolved';
}
