// Smoke test through a real Sentinel: the store finds the master by name and works on it.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../gateway/logger.js';
import { createStateStore } from '../../../gateway/state/create-state-store.js';
import type { StateStore } from '../../../gateway/state/state-store.js';
import { type RedisSentinel, type RedisServer, startRedis, startRedisSentinel } from '../../support/redis.js';
import { testSession } from '../../support/sessions.js';

const log = createLogger({ level: 'silent', format: 'json' });
const id = (): string => randomBytes(16).toString('hex');

let master: RedisServer;
let sentinel: RedisSentinel;
let store: StateStore;
beforeAll(async () => {
  master = await startRedis();
  sentinel = await startRedisSentinel(master.port);
  store = (await createStateStore(sentinel.url, { tombstoneTtlMs: 60_000, log })).store;
});
afterAll(async () => {
  await store?.close();
  await sentinel?.stop();
  await master?.stop();
});

describe('Redis via Sentinel', () => {
  it('resolves the master by name and keeps sessions there', async () => {
    const deadline = Date.now() + 10_000;
    while (
      !(await store.ping().then(
        () => true,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error('sentinel store not ready');
      await sleep(100);
    }
    const uid = id();
    const rec = testSession(uid);
    expect(await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' })).toEqual({
      ok: true,
      evicted: [],
    });
    expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: true, session: rec });
  });
});
