// Session events: the wire format refuses anything we did not write, every session-ending store operation
// publishes, and on Redis an event crosses connections and survives the server restarting (resubscribe).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../gateway/logger.js';
import { createStateStore, type StateBackend } from '../../../gateway/state/create-state-store.js';
import {
  decodeSessionEvent,
  encodeSessionEvent,
  type SessionEvent,
} from '../../../gateway/state/session-events.js';
import type { SessionRecord } from '../../../gateway/state/state-store.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { testSession } from '../../support/sessions.js';

const log = createLogger({ level: 'silent', format: 'json' });
const LIMIT = { max_active: 1, on_exceed: 'evict_oldest' } as const;

const record = (userId: string, sid: string): SessionRecord =>
  testSession(userId, { sid, expires_at: Date.now() + 3_600_000 });

/** Collects events until `count` arrived (or fails after `ms`). */
function collect(backend: StateBackend, count: number, ms = 3_000): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(seen)}`)), ms);
    const off = backend.events.subscribe((e) => {
      seen.push(e);
      if (seen.length === count) {
        clearTimeout(timer);
        off();
        resolve(seen);
      }
    });
  });
}

describe('session event wire format', () => {
  it.each<SessionEvent>([
    { kind: 'ended', userId: 'u1', sids: ['a', 'b'], reason: 'token_revoked' },
    { kind: 'ended', userId: 'u1', sids: ['a'], reason: 'session_replaced' },
    { kind: 'changed', userId: 'u2' },
  ])('round-trips %j', (e) => {
    expect(decodeSessionEvent(encodeSessionEvent(e))).toEqual(e);
  });

  it.each([
    'not json',
    'null',
    '[]',
    '{"k":"e","u":"u1","s":["a"],"r":"because"}',
    '{"k":"e","u":"u1","s":"a","r":"token_revoked"}',
    '{"k":"e","u":"","s":["a"],"r":"token_revoked"}',
    '{"k":"x","u":"u1"}',
    `{"k":"c","u":"${'x'.repeat(70_000)}"}`,
  ])('refuses %s', (text) => {
    expect(decodeSessionEvent(text)).toBeNull();
  });
});

describe('every session-ending operation publishes (memory store)', () => {
  it('logout, revoke-all, eviction, refresh reuse and a role change', async () => {
    const backend = await createStateStore('memory', { tombstoneTtlMs: 120_000, log });
    const { store } = backend;
    const events = collect(backend, 5);
    await store.createSession(record('u1', 's1'), 'h1', LIMIT);
    await store.createSession(record('u1', 's2'), 'h2', LIMIT); // evicts s1
    await store.updateUserSessions('u1', { roles: ['admin'] });
    await store.rotateRefresh('h2', 'h3', Date.now(), 0, 3_600_000, '');
    await store.rotateRefresh('h2', 'h4', Date.now() + 1_000, 0, 3_600_000, ''); // reuse: s2 ends
    await store.createSession(record('u1', 's3'), 'h5', LIMIT);
    await store.endSession('u1', 's3', 'token_revoked');
    await store.createSession(record('u1', 's4'), 'h6', LIMIT);
    await store.endUserSessions('u1', 'token_revoked');
    expect(await events).toEqual([
      { kind: 'ended', userId: 'u1', sids: ['s1'], reason: 'session_replaced' },
      { kind: 'changed', userId: 'u1' },
      { kind: 'ended', userId: 'u1', sids: ['s2'], reason: 'token_revoked' },
      { kind: 'ended', userId: 'u1', sids: ['s3'], reason: 'token_revoked' },
      { kind: 'ended', userId: 'u1', sids: ['s4'], reason: 'token_revoked' },
    ]);
    // Nothing to end, nothing published: ending a session that does not exist is silent.
    const none = collect(backend, 1, 200);
    expect(await store.endSession('u1', 'gone', 'token_revoked')).toBe(false);
    await expect(none).rejects.toThrow('got []');
    await store.close();
  });
});

describe('session events on Redis', () => {
  let redis: RedisServer;
  let a: StateBackend;
  let b: StateBackend;
  beforeAll(async () => {
    redis = await startRedis();
    a = await createStateStore(redis.url, { tombstoneTtlMs: 120_000, log });
    b = await createStateStore(redis.url, { tombstoneTtlMs: 120_000, log });
  });
  afterAll(async () => {
    await a?.store.close();
    await b?.store.close();
    await redis?.stop();
  });

  it('an event published by one store reaches the other’s subscribers; garbage on the channel is ignored', async () => {
    const received = collect(b, 1);
    await new Promise((r) => setTimeout(r, 200)); // the subscriber connection subscribes once ready
    await redisCli(redis.port, 'PUBLISH', 'pc:session-events', '{"k":"e","u":"x"}');
    await a.store.createSession(record('u7', 's1'), 'h1', LIMIT);
    await a.store.endSession('u7', 's1', 'token_revoked');
    expect(await received).toEqual([{ kind: 'ended', userId: 'u7', sids: ['s1'], reason: 'token_revoked' }]);
  });

  it('after Redis restarts, the subscriber is subscribed again', async () => {
    await redis.restart();
    // Wait until both connections are back (a command answers) and give the subscriber its resubscribe.
    for (let i = 0; i < 100; i++) {
      if (
        await a.store.ping().then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1_500));
    const received = collect(b, 1);
    await a.store.createSession(record('u8', 's1'), 'h1', LIMIT);
    await a.store.endSession('u8', 's1', 'token_revoked');
    expect((await received)[0]).toMatchObject({ userId: 'u8', kind: 'ended' });
  });
});
