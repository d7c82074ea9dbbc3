// The audit queue on a real SQLite user store: batching by event-loop turn, order, and what happens to
// an entry the store refuses. The store is wrapped only to see which batches reached it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../gateway/audit.js';
import { createLogger } from '../../gateway/logger.js';
import { createSqliteUserStore, sqliteExec } from '../../gateway/users/sqlite-store.js';
import type { LoginAttempt, RecordEntry, UserStore } from '../../gateway/users/user-store.js';
import { holdWriteLock } from '../support/sqlite-lock.js';

const attempt = (email: string | null): LoginAttempt =>
  ({
    user_id: null,
    email,
    ip: '203.0.113.7',
    user_agent: 'UA/1',
    success: false,
    reason: 'unknown_email',
  }) as LoginAttempt;

describe('audit log queue', () => {
  let dir: string;
  let store: UserStore;
  let batches: number[];
  let logged: string;
  let counted: UserStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-'));
    store = createSqliteUserStore(join(dir, 'users.db'));
    batches = [];
    counted = {
      ...store,
      appendRecords: (entries: readonly RecordEntry[]) => {
        batches.push(entries.length);
        return store.appendRecords(entries);
      },
    };
    logged = '';
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const logger = () => {
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => {
      logged += chunk.toString();
    });
    return createLogger({ level: 'warn', format: 'json', destination: out });
  };

  it('what one event-loop turn queues is written in one transaction, in order', async () => {
    const audit = createAuditLog(counted, logger());
    audit.recordLogin(attempt('a@example.com'));
    audit.record({ type: 'login_failure', details: { n: 1 } });
    audit.record({ type: 'lockout', details: { n: 2 } });
    await audit.flush();
    expect(batches).toEqual([3]);
    const events = await store.listAudit({ limit: 10 });
    expect(events.map((e) => [e.type, e.details])).toEqual([
      ['lockout', { n: 2 }],
      ['login_failure', { n: 1 }],
    ]);
    expect(await store.verifyAudit()).toMatchObject({ ok: true });
    audit.record({ type: 'unlock' });
    await audit.flush();
    expect(batches).toEqual([3, 1]);
  });

  it('an entry the store refuses is dropped alone after its retries; the entries around it are written', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 1 });
    audit.record({ type: 'login_failure', details: { n: 1 } });
    audit.recordLogin(attempt(null)); // login_records.email is NOT NULL: never written
    audit.record({ type: 'lockout', details: { n: 2 } });
    audit.recordLogin(attempt('b@example.com'));
    await audit.flush();
    // The batch of four fails as a whole, then each entry goes alone: the bad one 20 times.
    expect(batches).toEqual([4, ...Array(1 + 20 + 1 + 1).fill(1)]);
    expect((await store.listAudit({ limit: 10 })).map((e) => e.details)).toEqual([{ n: 2 }, { n: 1 }]);
    expect(await store.verifyAudit()).toMatchObject({ ok: true });
    expect(logged).toContain('audit write failed repeatedly: event dropped');
    expect(audit.stats()).toEqual({ queued: 0, waiting: 0, dropped: 1 });
    // Batching resumes once the failed batch is behind.
    audit.record({ type: 'unlock' });
    audit.record({ type: 'unlock' });
    await audit.flush();
    expect(batches.at(-1)).toBe(2);
  });

  it('close waits at most its timeout for a store that keeps failing, then logs what is lost and stops', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 20 });
    await store.close(); // a store that stopped answering: every write fails
    audit.record({ type: 'login_failure' });
    audit.recordLogin(attempt('c@example.com'));
    audit.record({ type: 'lockout' });
    const started = performance.now();
    await audit.close(200);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(2_000); // 3 entries × 20 retries × 20 ms would be 1.2 s more
    expect(logged).toContain('shutdown: audit records not written in time are lost');
    expect(logged).toContain('"lost":3');
    expect(audit.stats()).toEqual({ queued: 0, waiting: 0, dropped: 3 });
    // The writer stopped: no retry after close, and a record made later is not queued.
    await new Promise((resolve) => setTimeout(resolve, 60));
    const tried = batches.length;
    audit.record({ type: 'unlock' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(batches.length).toBe(tried);
    expect(audit.stats().dropped).toBe(4);
    store = createSqliteUserStore(join(dir, 'users.db')); // for afterEach
  });

  it('a full queue refuses new records, logs it and counts them dropped; what it holds is kept', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 20 });
    await store.close(); // every write fails: nothing leaves the queue
    for (let i = 0; i < 10_005; i++) audit.record({ type: 'unlock', details: { i } });
    expect(audit.stats()).toEqual({ queued: 10_000, waiting: 0, dropped: 5 });
    expect(logged).toContain('audit queue full: events dropped');
    await audit.close(0);
    expect(audit.stats()).toEqual({ queued: 0, waiting: 0, dropped: 10_005 });
    store = createSqliteUserStore(join(dir, 'users.db')); // for afterEach
  });

  it('written resolves once what was queued before it is in the store, not before', async () => {
    const audit = createAuditLog(counted, logger());
    // Nothing queued: resolved before the next turn of the loop, not after a wait.
    const first = await Promise.race([
      audit.written().then(() => 'written'),
      new Promise((resolve) => setImmediate(() => resolve('next turn'))),
    ]);
    expect(first).toBe('written');
    expect(batches).toEqual([]);
    audit.recordLogin(attempt('d@example.com'));
    audit.record({ type: 'login_success' });
    await audit.written();
    expect(sqliteExec(join(dir, 'users.db'), 'SELECT email FROM login_records')).toEqual([
      { email: 'd@example.com' },
    ]);
    expect((await store.listAudit({ limit: 10 })).map((e) => e.type)).toEqual(['login_success']);
    expect(batches).toEqual([2]);
  });

  it('written gives up waiting after its timeout on a store that keeps failing, and never rejects', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 50 });
    await store.close(); // every write fails
    audit.recordLogin(attempt('e@example.com'));
    const started = performance.now();
    const waiting = audit.written(150);
    expect(audit.stats().waiting).toBe(1);
    await expect(waiting).resolves.toBeUndefined();
    const waited = performance.now() - started;
    // Gone from the list once it gave up, though its entry is still queued and retried.
    expect(audit.stats()).toEqual({ queued: 1, waiting: 0, dropped: 0 });
    expect(waited).toBeGreaterThanOrEqual(140);
    // Its timeout, not the entry's drop: 20 tries 50 ms apart end after 950 ms at the earliest.
    expect(waited).toBeLessThan(800);
    expect(logged).not.toContain('event dropped');
    expect(batches.length).toBeGreaterThan(1);
    await audit.close(0);
    store = createSqliteUserStore(join(dir, 'users.db')); // for afterEach
  });

  it('written resolves when the entries it waits for are dropped after their retries', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 1 });
    audit.recordLogin(attempt(null)); // never written (email NOT NULL)
    const started = performance.now();
    await audit.written(3_000);
    // Resolved by the drop (20 tries 1 ms apart), well before its own timeout, and not before the drop.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(logged).toContain('audit write failed repeatedly: event dropped');
    expect(batches).toEqual(Array(20).fill(1));
  });

  it('close resolves at once when everything is written, and nothing is reported lost', async () => {
    const audit = createAuditLog(counted, logger());
    audit.record({ type: 'unlock' });
    await audit.close(60_000);
    expect(batches).toEqual([1]);
    expect(logged).not.toContain('lost');
  });

  it('recordWritten resolves once its event is in the store, not before', async () => {
    const audit = createAuditLog(counted, logger());
    await audit.recordWritten({ type: 'admin_set_roles', actor: 'admin', details: { roles: ['ops'] } });
    expect((await store.listAudit({ limit: 10 })).map((e) => e.type)).toEqual(['admin_set_roles']);
  });

  it('security: recordWritten rejects with audit_unwritten when its event is dropped, and logs it', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 1 });
    await store.close(); // every write fails: the event is dropped after its retries
    await expect(
      audit.recordWritten({ type: 'admin_disable', user_id: 'u1', actor: 'cli' }),
    ).rejects.toMatchObject({ code: 'audit_unwritten', status: 500 });
    expect(logged).toContain('operator change not audited');
    expect(logged).toContain('admin_disable');
    // Refused at once by a closed queue.
    await audit.close(0);
    await expect(audit.recordWritten({ type: 'unlock' })).rejects.toMatchObject({ code: 'audit_unwritten' });
    store = createSqliteUserStore(join(dir, 'users.db')); // for afterEach
  });

  it('recordWritten rejects after its timeout while the event is still queued; it is written later', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 20 });
    const lock = await holdWriteLock(join(dir, 'users.db'));
    try {
      await expect(audit.recordWritten({ type: 'unlock' }, 300)).rejects.toMatchObject({
        code: 'audit_unwritten',
        message: expect.stringContaining('not written yet'),
      });
    } finally {
      await lock.release();
    }
    await audit.flush();
    expect((await store.listAudit({ limit: 10 })).map((e) => e.type)).toEqual(['unlock']);
  });

  it('security: an event and a login record held behind a write lock keep the time they happened', async () => {
    const audit = createAuditLog(counted, logger(), { retryMs: 20 });
    const lock = await holdWriteLock(join(dir, 'users.db'));
    const happened = Date.now();
    audit.recordLogin(attempt('f@example.com'));
    audit.record({ type: 'login_failure' });
    await new Promise((resolve) => setTimeout(resolve, 700));
    const released = Date.now();
    await lock.release();
    await audit.flush();
    const [event] = await store.listAudit({ limit: 1 });
    const [login] = sqliteExec(join(dir, 'users.db'), 'SELECT at FROM login_records');
    for (const at of [event!.at.getTime(), Number(login!.at)]) {
      expect(at).toBeGreaterThanOrEqual(happened);
      expect(at).toBeLessThan(happened + 100); // not the write's time, 700 ms later
      expect(at).toBeLessThan(released);
    }
    expect(await store.verifyAudit()).toMatchObject({ ok: true });
  });
});
