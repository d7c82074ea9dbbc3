// The PostgreSQL user store: the shared UserStore contract, then what only a networked, shared store has
// (migrations under a lock, two replicas racing, a bounded pool, lost connections). A fresh database per test.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../../gateway/audit.js';
import { createLogger } from '../../../gateway/logger.js';
import { POSTGRES_MIGRATIONS } from '../../../gateway/users/postgres-migrations.js';
import { AUDIT_LOCK, LOCK_NAMESPACE } from '../../../gateway/users/postgres-rows.js';
import {
  createPostgresUserStore,
  migratePostgres,
  postgresExec,
} from '../../../gateway/users/postgres-store.js';
import type { UserStore } from '../../../gateway/users/user-store.js';
import { appendAudit } from '../../support/records.js';
import { createTestDatabase, type TestDatabase } from './postgres-harness.js';
import { runUserStoreSuite } from './user-store.suite.js';

runUserStoreSuite('postgres', async (options) => {
  const db = await createTestDatabase();
  const store = await createPostgresUserStore(db.url, options);
  return {
    store,
    exec: async (sql) => {
      await postgresExec(db.url, sql);
    },
    cleanup: async () => {
      await store.close();
      await db.drop();
    },
  };
});

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code?: unknown; status?: unknown; cause?: unknown }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: unknown; status?: unknown; cause?: unknown };
  }
  throw new Error('expected a rejection');
}

const person = (email: string) => ({ email, first_name: 'R', last_name: 'P', password_hash: '$h$' });

describe('postgres user store: shared by replicas', () => {
  let db: TestDatabase;
  const opened: UserStore[] = [];
  const open = async (options = {}) => {
    const store = await createPostgresUserStore(db.url, options);
    opened.push(store);
    return store;
  };
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await db.drop();
  });

  it('replicas starting together apply each migration exactly once', async () => {
    await Promise.all(Array.from({ length: 4 }, () => open()));
    const rows = await postgresExec(db.url, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
  });

  it('numbers migrations 1, 2, 3… without gaps', () => {
    expect(POSTGRES_MIGRATIONS.map((m) => m.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
  });

  it('rolls back a failing migration whole and records nothing for it', async () => {
    const broken = {
      version: POSTGRES_MIGRATIONS.length + 1,
      name: 'broken',
      sql: 'CREATE TABLE half (a int); SELECT * FROM nope;',
    };
    await expect(migratePostgres(db.url, [...POSTGRES_MIGRATIONS, broken])).rejects.toThrow();
    expect(await postgresExec(db.url, "SELECT to_regclass('half') AS t")).toEqual([{ t: null }]);
    expect(await postgresExec(db.url, 'SELECT max(version) AS v FROM schema_migrations')).toEqual([
      { v: POSTGRES_MIGRATIONS.length },
    ]);
  });

  it('refuses a database written by a newer gateway', async () => {
    await migratePostgres(db.url);
    await postgresExec(db.url, "INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    await expect(createPostgresUserStore(db.url)).rejects.toThrow(/newer/);
  });

  it('security: the same email registered on two replicas at once, 20 times over, yields one user each', async () => {
    const [a, b] = [await open(), await open()];
    // One round at a time: 80 creations at once queued for a pool connection longer than its 2 s connect
    // bound on a loaded CI machine (503), which says nothing about the race inside a round.
    for (let round = 0; round < 20; round++) {
      const results = await Promise.allSettled(
        [a, b, a, b].map((store, i) =>
          store.createUser(person(i % 2 === 0 ? `race${round}@example.com` : `RACE${round}@Example.com`)),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'email_taken', status: 409 });
      }
    }
    const [count] = await postgresExec(db.url, 'SELECT count(*)::int AS n FROM users');
    expect(count).toEqual({ n: 20 });
  });

  it('security: concurrent audit appends from two replicas keep one unbroken chain', async () => {
    const [a, b] = [await open(), await open()];
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        appendAudit(i % 2 === 0 ? a : b, {
          type: 'login',
          user_id: null,
          actor: null,
          ip: null,
          details: { i },
        }),
      ),
    );
    expect(await a.verifyAudit()).toMatchObject({ ok: true });
    expect(await b.verifyAudit()).toMatchObject({ ok: true });
    const ids = await postgresExec(db.url, 'SELECT id::int AS id FROM audit_events ORDER BY id');
    expect(ids.map((r) => r.id)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('an audit append waits for the chain lock no longer than the statement timeout', async () => {
    const store = await open({ statementTimeoutMs: 300 });
    // Another replica holding the chain lock for a second.
    const holder = postgresExec(
      db.url,
      `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${AUDIT_LOCK}), pg_sleep(1)`,
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const err = await rejection(
      appendAudit(store, { type: 'x', user_id: null, actor: null, ip: null, details: {} }),
    );
    // A store that cannot answer in time is unavailable (503, the client may retry), not a bug.
    expect(err).toMatchObject({ code: 'users_unavailable', status: 503 });
    expect(err.cause).toMatchObject({ code: '57014' }); // query_canceled by statement_timeout
    expect(Date.now() - started).toBeLessThan(900);
    await holder;
    expect(await store.verifyAudit()).toMatchObject({ ok: true });
  });

  it('security: an event and a login record held behind the chain lock keep the time they happened', async () => {
    const store = await open();
    const audit = createAuditLog(store, createLogger({ level: 'fatal', format: 'json' }));
    // Another replica holding the chain lock for 1.5 s.
    const holder = postgresExec(
      db.url,
      `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${AUDIT_LOCK}), pg_sleep(1.5)`,
    );
    await new Promise((r) => setTimeout(r, 200));
    const happened = Date.now();
    audit.recordLogin({
      user_id: null,
      email: 'g@example.com',
      ip: '203.0.113.7',
      user_agent: 'UA/1',
      success: false,
      reason: 'unknown_email',
    });
    audit.record({ type: 'login_failure' });
    await holder;
    await audit.flush();
    const [event] = await store.listAudit({ limit: 1 });
    const [login] = await postgresExec(db.url, 'SELECT at FROM login_records');
    for (const at of [event!.at.getTime(), Number(login!.at)]) {
      expect(at).toBeGreaterThanOrEqual(happened);
      expect(at).toBeLessThan(happened + 200); // not the write's time, after the lock went
    }
  });

  it('keeps the pool bounded under a burst', async () => {
    const store = await open({ poolMax: 3 });
    await Promise.all(Array.from({ length: 60 }, () => store.findById('0'.repeat(32))));
    const [row] = await postgresExec(
      db.url,
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'portcullis'",
      db.name,
    );
    expect(row?.n).toBeGreaterThan(0);
    expect(row?.n).toBeLessThanOrEqual(3);
  });

  it('a value PostgreSQL cannot store is validation_failed, not a 500', async () => {
    const store = await open();
    const err = await rejection(store.createUser({ ...person('nul@example.com'), first_name: 'a\u0000b' }));
    expect(err).toMatchObject({ code: 'validation_failed', status: 400 });
  });

  it('a lost server answers users_unavailable (cause kept), and idle connection errors do not crash', async () => {
    const idleErrors: Error[] = [];
    const store = await open({ onIdleError: (err: Error) => idleErrors.push(err) });
    await store.findById('0'.repeat(32)); // at least one pooled connection
    await db.drop(); // FORCE terminates our connections
    const err = await rejection(store.findByEmail('x@example.com'));
    expect(err).toMatchObject({ code: 'users_unavailable', status: 503 });
    expect(err.cause).toBeInstanceOf(Error);
    expect(await rejection(store.ping())).toMatchObject({ code: 'users_unavailable' });
    db = await createTestDatabase(); // afterEach drops this one
  });

  it('refuses to open an unreachable server within the connect timeout, without the password', async () => {
    const started = Date.now();
    const err = await rejection(createPostgresUserStore('postgres://gw:hunter2@127.0.0.1:1/portcullis'));
    expect(String((err as Error).message)).toMatch(/127\.0\.0\.1:1\/portcullis/);
    expect(String((err as Error).message)).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
