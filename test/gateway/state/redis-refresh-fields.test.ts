// The refresh fields of the Redis session hash on a real redis-server: the stored form (cur, spent) and
// sessions written before spent existed (cur, par, pat), which must keep working across an upgrade.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../gateway/logger.js';
import { createStateStore } from '../../../gateway/state/create-state-store.js';
import { redisKeys } from '../../../gateway/state/redis-codec.js';
import {
  MAX_CURRENT_REFRESH,
  type SessionRecord,
  type StateStore,
} from '../../../gateway/state/state-store.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { testSession } from '../../support/sessions.js';

const log = createLogger({ level: 'silent', format: 'json' });
const id = (): string => randomBytes(16).toString('hex');
const GRACE = 10_000;
const TTL = 60_000;
const limit = { max_active: 10, on_exceed: 'evict_oldest' } as const;

let redis: RedisServer;
let store: StateStore;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
beforeEach(async () => {
  ({ store } = await createStateStore(redis.url, { tombstoneTtlMs: 60_000, log }));
  return () => store.close();
});

async function fields(rec: SessionRecord): Promise<Record<string, string>> {
  const flat = (await redisCli(redis.port, 'HGETALL', redisKeys.session(rec.user_id, rec.sid)))
    .split('\n')
    .slice(0, -1);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** A session as the previous release left it: cur (space-separated), par and pat, each hash indexed. */
async function oldFormat(cur: readonly string[], par: string, pat: number): Promise<SessionRecord> {
  const rec = testSession(id());
  await store.createSession(rec, cur[0]!, limit);
  const key = redisKeys.session(rec.user_id, rec.sid);
  await redisCli(redis.port, 'HSET', key, 'cur', cur.join(' '), 'par', par, 'pat', String(pat));
  for (const h of [...cur, par].filter((h) => h !== '')) {
    const owner = JSON.stringify([rec.user_id, rec.sid]);
    await redisCli(redis.port, 'SET', redisKeys.refresh(h), owner, 'PXAT', String(rec.expires_at));
  }
  return rec;
}

describe('Redis session hash: refresh fields', () => {
  it('keeps cur (current hashes, oldest first) and spent (`<ms>:<hash>`, inside the grace) and nothing else', async () => {
    const rec = testSession(id());
    const [h0, h1, g] = [id(), id(), id()];
    await store.createSession(rec, h0, limit);
    expect(await fields(rec)).toMatchObject({ cur: h0 });
    expect(await fields(rec)).not.toHaveProperty('par');
    const at = Date.now();
    await store.rotateRefresh(h0, h1, at, GRACE, TTL, '');
    await store.rotateRefresh(h0, g, at + 5, GRACE, TTL, '');
    const f = await fields(rec);
    expect(f.cur).toBe(`${h1} ${g}`);
    expect(f.spent).toBe(`${at}:${h0}`);
    expect(Object.keys(f).sort()).toEqual(['active', 'cur', 'dev', 'exp', 'rec', 'roles', 'seen', 'spent']);
    // Past the grace, the next write forgets the spent entry.
    const later = at + GRACE;
    await store.rotateRefresh(h1, id(), later, GRACE, TTL, '');
    expect((await fields(rec)).spent).toBe(`${later}:${h1}`);
  });

  it(`cur never holds more than ${MAX_CURRENT_REFRESH} hashes`, async () => {
    const rec = testSession(id());
    const h0 = id();
    await store.createSession(rec, h0, limit);
    const at = Date.now();
    await store.rotateRefresh(h0, id(), at, GRACE, TTL, '');
    const tabs = Array.from({ length: MAX_CURRENT_REFRESH + 4 }, () => id());
    for (const t of tabs) await store.rotateRefresh(h0, t, at, GRACE, TTL, '');
    expect((await fields(rec)).cur).toBe(tabs.slice(-MAX_CURRENT_REFRESH).join(' '));
  });

  it('an old-format session: par inside the grace gets grace, every cur hash is current, par/pat are folded into spent', async () => {
    const [h0, c1, c2, g] = [id(), id(), id(), id()];
    const pat = Date.now() - 50;
    const rec = await oldFormat([c1, c2], h0, pat);
    expect(await store.rotateRefresh(h0, g, Date.now(), GRACE, TTL, '')).toMatchObject({ kind: 'grace' });
    const f = await fields(rec);
    expect(f).not.toHaveProperty('par');
    expect(f).not.toHaveProperty('pat');
    expect(f.cur).toBe(`${c1} ${c2} ${g}`);
    expect(f.spent).toBe(`${pat}:${h0}`);
    for (const h of [c1, c2, g]) {
      expect(await store.rotateRefresh(h, id(), Date.now(), GRACE, TTL, '')).toMatchObject({
        kind: 'rotated',
      });
    }
  });

  it('an old-format session: par spent longer ago than the grace is reuse and revokes the session', async () => {
    const [h0, c1] = [id(), id()];
    const rec = await oldFormat([c1], h0, Date.now() - GRACE - 1000);
    expect(await store.rotateRefresh(h0, id(), Date.now(), GRACE, TTL, '')).toMatchObject({ kind: 'reused' });
    expect(await store.checkAccess(rec.user_id, rec.sid, id())).toEqual({
      ok: false,
      reason: 'token_revoked',
    });
  });

  it('an old-format session never rotated (par empty, pat 0) rotates and loses the old fields', async () => {
    const c1 = id();
    const rec = await oldFormat([c1], '', 0);
    const next = id();
    expect(await store.rotateRefresh(c1, next, Date.now(), GRACE, TTL, '')).toMatchObject({
      kind: 'rotated',
    });
    const f = await fields(rec);
    expect(f.cur).toBe(next);
    expect(f).not.toHaveProperty('par');
    expect(f).not.toHaveProperty('pat');
  });
});
