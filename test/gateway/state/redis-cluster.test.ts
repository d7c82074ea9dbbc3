// The StateStore contract and a smoke test on a real 3-master Redis Cluster: the per-user hash tag keeps
// every script on one slot, and the refresh index in other slots still rotates. Skipped when a cluster
// cannot start within 20 s here.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../gateway/logger.js';
import { createStateStore, type StateBackend } from '../../../gateway/state/create-state-store.js';
import { userKey } from '../../../gateway/state/limiter.js';
import { redisKeys } from '../../../gateway/state/redis-codec.js';
import type { SessionRecord } from '../../../gateway/state/state-store.js';
import { type RedisCluster, redisCli, startRedisCluster } from '../../support/redis.js';
import { testSession } from '../../support/sessions.js';
import { runStateStoreSuite } from './state-store.suite.js';

const log = createLogger({ level: 'silent', format: 'json' });
const id = (): string => randomBytes(16).toString('hex');

const cluster: RedisCluster | null = await startRedisCluster(20_000).catch(() => null);
let backend: StateBackend | null = null;

async function ready(b: StateBackend): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (
    !(await b.store.ping().then(
      () => true,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error('cluster store not ready');
    await sleep(100);
  }
}

beforeAll(async () => {
  if (cluster === null) return;
  backend = await createStateStore(cluster.url, { tombstoneTtlMs: 60_000, log });
  await ready(backend);
});
afterAll(async () => {
  await backend?.store.close();
  await cluster?.stop();
});

if (cluster !== null) {
  const url = cluster.url;
  runStateStoreSuite('redis-cluster', async ({ tombstoneTtlMs }) => {
    const b = await createStateStore(url, { tombstoneTtlMs, log });
    await ready(b);
    return {
      store: b.store,
      clock: { now: Date.now, sleep: (ms) => sleep(ms) },
      cleanup: () => b.store.close(),
    };
  });
}

const record = (uid: string, device: string): SessionRecord => testSession(uid, { device });

describe.skipIf(cluster === null)('Redis Cluster', () => {
  it('sessions, eviction, revocation, rotation and limiters work across slots', async () => {
    if (cluster === null || backend === null) throw new Error('unreachable: skipped without a cluster');
    const { store } = backend;
    const uid = id();
    const slots = new Set(
      await Promise.all(
        [redisKeys.session(uid, 'a'), redisKeys.sessions(uid), redisKeys.refresh('h')].map((k) =>
          redisCli(cluster.ports[0]!, 'CLUSTER', 'KEYSLOT', k).then((s) => s.trim()),
        ),
      ),
    );
    expect(slots.size).toBe(2); // the user's keys share one slot; the refresh index has its own

    const a = record(uid, 'dev');
    const h0 = id();
    expect(await store.createSession(a, h0, { max_active: 1, on_exceed: 'evict_oldest' })).toEqual({
      ok: true,
      evicted: [],
    });
    expect(await store.checkAccess(uid, a.sid, id())).toEqual({ ok: true, session: a });

    const h1 = id();
    const now = Date.now();
    expect(await store.rotateRefresh(h0, h1, now, 10_000, 60_000, 'dev')).toMatchObject({ kind: 'rotated' });
    expect(await store.rotateRefresh(h1, id(), Date.now(), 10_000, 60_000, 'dev')).toMatchObject({
      kind: 'rotated',
    });
    // h0 presented again once its grace is over (the time is an argument: no need to wait for it).
    expect(await store.rotateRefresh(h0, id(), Date.now() + 10_000, 10_000, 60_000, 'dev')).toMatchObject({
      kind: 'reused',
    });
    expect(await store.checkAccess(uid, a.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });

    const b = record(uid, '');
    const c = record(uid, '');
    await store.createSession(b, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    expect(await store.createSession(c, id(), { max_active: 1, on_exceed: 'evict_oldest' })).toEqual({
      ok: true,
      evicted: [b.sid],
    });
    expect(await store.checkAccess(uid, b.sid, id())).toEqual({ ok: false, reason: 'session_replaced' });
    expect(await store.updateUserSessions(uid, { roles: ['admin'] })).toBe(1);
    expect(await store.endUserSessions(uid, 'token_revoked')).toEqual([c.sid]);
    expect(await store.firstSeen(id(), 1000)).toBe(true);

    const limiter = backend.limiters.create(
      'cluster',
      { points: 1, duration_ms: 60_000, text: '1/m' },
      { failClosed: true },
    );
    expect((await limiter.consume('k')).allowed).toBe(true);
    expect((await limiter.consume('k')).allowed).toBe(false);
  });

  it('checkAccess counts per-user rate limits in the session check script: their keys share the user slot', async () => {
    if (cluster === null || backend === null) throw new Error('unreachable: skipped without a cluster');
    const { store, limiters } = backend;
    const uid = id();
    const rec = record(uid, '');
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    const rate = { points: 1, duration_ms: 60_000, text: '1/m' };
    const global = limiters.create('cluster-global', rate, { failClosed: false });
    const route = limiters.create('route:cluster', rate, { failClosed: false });
    const key = userKey(uid);
    const counters = [global.counter(key), route.counter(key)];
    const slots = new Set(
      await Promise.all(
        [redisKeys.session(uid, rec.sid), ...counters.map((c) => c.key)].map((k) =>
          redisCli(cluster.ports[0]!, 'CLUSTER', 'KEYSLOT', k).then((s) => s.trim()),
        ),
      ),
    );
    expect(slots.size).toBe(1);
    const first = await store.checkAccess(uid, rec.sid, id(), counters);
    expect(first).toMatchObject({ ok: true, session: rec });
    expect(first.counted!.map(([consumed]) => consumed)).toEqual([1, 1]);
    const second = await store.checkAccess(uid, rec.sid, id(), counters);
    expect(second.counted!.map((hit) => global.read(hit).allowed)).toEqual([false, false]);
    expect(await route.peek(key)).toMatchObject({ consumed: 2 });
  });
});
