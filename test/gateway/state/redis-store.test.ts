// Runs the StateStore contract against a real redis-server, then what only Redis has: one round trip
// per check, outages (kill, restart empty), recovery without a new store, hash-slot layout, limiters.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors.js';
import { createLogger } from '../../../gateway/logger.js';
import { createStateStore } from '../../../gateway/state/create-state-store.js';
import { userKey } from '../../../gateway/state/limiter.js';
import { redisKeys } from '../../../gateway/state/redis-codec.js';
import type { SessionRecord, StateStore } from '../../../gateway/state/state-store.js';
import { monitorCommands, type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { testSession } from '../../support/sessions.js';
import { runStateStoreSuite } from './state-store.suite.js';

const log = createLogger({ level: 'silent', format: 'json' });
const id = (): string => randomBytes(16).toString('hex');
const realClock = { now: Date.now, sleep: (ms: number) => sleep(ms).then(() => undefined) };

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

async function ready(store: StateStore, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await store.ping();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

runStateStoreSuite('redis', async ({ tombstoneTtlMs }) => {
  await redisCli(redis.port, 'FLUSHALL');
  const { store } = await createStateStore(redis.url, { tombstoneTtlMs, log });
  return { store, clock: realClock, cleanup: () => store.close() };
});

const record = (uid: string): SessionRecord => testSession(uid);

/** The rejection of `promise`, with how long it took to arrive. */
async function rejection(promise: unknown): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (err) {
    return { err, ms: performance.now() - started };
  }
  throw new Error('expected a rejection');
}

function expectUnavailable(err: unknown): void {
  expect(err).toBeInstanceOf(GatewayError);
  expect(err).toMatchObject({ code: 'state_unavailable', status: 503 });
}

/** Makes the calls in one event-loop turn, expects them on the wire as one EVALSHA, returns their answers. */
async function inOneCommand<T>(calls: () => Array<T | Promise<T>>): Promise<T[]> {
  let answers: T[] = [];
  const seen = await monitorCommands(redis.port, async () => {
    answers = await Promise.all(calls());
  });
  expect(seen).toHaveLength(1);
  expect(seen[0]).toContain('"evalsha"');
  return answers;
}

describe('Redis state store only', () => {
  let store: StateStore;
  let limiters: Awaited<ReturnType<typeof createStateStore>>['limiters'];
  let events: Awaited<ReturnType<typeof createStateStore>>['events'];
  beforeEach(async () => {
    ({ store, limiters, events } = await createStateStore(redis.url, { tombstoneTtlMs: 60_000, log }));
    await ready(store);
    return () => store.close();
  });

  it('checkAccess is exactly one command on the wire (scripts run inside it)', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    await store.checkAccess(uid, rec.sid, id()); // loads the script once (EVALSHA, EVAL on NOSCRIPT)
    const seen = await monitorCommands(redis.port, () => store.checkAccess(uid, rec.sid, id()));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toContain('"evalsha"');
  });

  it("a session's refresh index and its script leave in one socket write: Redis reads both at once", async () => {
    const uid = id();
    const limit = { max_active: 10, on_exceed: 'evict_oldest' } as const;
    await store.createSession(record(uid), id(), limit); // loads the script once
    const reads = async (): Promise<number> =>
      Number(/total_reads_processed:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'stats'))?.[1]);
    // What asking costs by itself (redis-cli's command, the previous one's close), then with a session.
    const idle = -(await reads()) + (await reads());
    const before = await reads();
    await store.createSession(record(uid), id(), limit);
    // One read for the SET and the EVALSHA together (two before).
    expect((await reads()) - before - idle).toBe(1);
  });

  it("counter operations waiting for the turn's end join a session's write when one leaves in their tick", async () => {
    const uid = id();
    const limit = { max_active: 10, on_exceed: 'evict_oldest' } as const;
    const lock = limiters.create(
      `lock-${id()}`,
      { points: 5, duration_ms: 60_000, text: '5/m' },
      { failClosed: true },
    );
    await lock.consume('pair');
    await store.createSession(record(uid), id(), limit); // loads the scripts
    const reads = async (): Promise<number> =>
      Number(/total_reads_processed:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'stats'))?.[1]);
    const idle = -(await reads()) + (await reads());
    const before = await reads();
    // A login's lock reset, then its session, in one tick: one write (two when the reset waited for
    // the turn's end on its own).
    await Promise.all([lock.reset('pair'), store.createSession(record(uid), id(), limit)]);
    expect((await reads()) - before - idle).toBe(1);
    expect((await redisCli(redis.port, 'EXISTS', lock.counter('pair').key)).trim()).toBe('0');
    // Alone, a counter operation still leaves at the turn's end, in a write of its own.
    const alone = await reads();
    await lock.consume('pair');
    expect((await reads()) - alone - idle).toBe(1);
  });

  it('a session that evicts others publishes their ended event inside its script, not in a command of its own', async () => {
    const uid = id();
    const limit = { max_active: 1, on_exceed: 'evict_oldest' } as const;
    const first = record(uid);
    await store.createSession(first, id(), limit); // loads the script once
    const heard: unknown[] = [];
    events.subscribe((event) => heard.push(event));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the subscriber connection subscribes
    const seen = await monitorCommands(redis.port, () => store.createSession(record(uid), id(), limit));
    expect(seen.map((line) => /\] "(\w+)"/.exec(line)?.[1]).sort()).toEqual(['evalsha', 'set']);
    expect(heard).toEqual([{ kind: 'ended', userId: uid, sids: [first.sid], reason: 'session_replaced' }]);
  });

  it('with its script cache flushed, Redis gets EVAL once and then EVALSHA again (no failed request)', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    await store.checkAccess(uid, rec.sid, id()); // the client now knows the script as loaded
    await redisCli(redis.port, 'SCRIPT', 'FLUSH');
    const first = await monitorCommands(redis.port, () => store.checkAccess(uid, rec.sid, id()));
    expect(first.map((c) => c.match(/\] "(\w+)"/)?.[1])).toEqual(['evalsha', 'eval']);
    const again = await monitorCommands(redis.port, () => store.checkAccess(uid, rec.sid, id()));
    expect(again).toHaveLength(1);
    expect(again[0]).toContain('"evalsha"');
    // Every other script too, by the path logins and logouts take.
    await redisCli(redis.port, 'SCRIPT', 'FLUSH');
    expect(await store.listUserSessions(uid)).toHaveLength(1);
    expect(await store.endSession(uid, rec.sid, 'token_revoked')).toBe(true);
    expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({ ok: false, reason: 'token_revoked' });
  });

  it('the checks of one event-loop turn leave as one command, and each request gets its own answer', async () => {
    const one = { max_active: 1, on_exceed: 'evict_oldest' } as const;
    const [live, ended, replaced, jtiRevoked, counted] = [id(), id(), id(), id(), id()];
    const recs = new Map([live, ended, replaced, jtiRevoked, counted].map((u) => [u, record(u)]));
    for (const rec of recs.values()) await store.createSession(rec, id(), one);
    await store.endSession(ended, recs.get(ended)!.sid, 'token_revoked');
    await store.createSession(record(replaced), id(), one);
    const badJti = id();
    await store.revokeJti(jtiRevoked, badJti, Date.now() + 60_000);
    const limit = limiters.create(
      `batch-${id()}`,
      { points: 1, duration_ms: 60_000, text: '1/min' },
      {
        failClosed: false,
      },
    );
    const counter = limit.counter(userKey(counted));
    await store.checkAccess(live, recs.get(live)!.sid, id()); // loads the script

    const checkAll = () =>
      Promise.all([
        store.checkAccess(live, recs.get(live)!.sid, id()),
        store.checkAccess(ended, recs.get(ended)!.sid, id()),
        store.checkAccess(replaced, recs.get(replaced)!.sid, id()),
        store.checkAccess(jtiRevoked, recs.get(jtiRevoked)!.sid, badJti),
        store.checkAccess(counted, recs.get(counted)!.sid, id(), [counter]),
        store.checkAccess(jtiRevoked, recs.get(jtiRevoked)!.sid, id()),
      ]);
    let answers: Awaited<ReturnType<typeof checkAll>> | undefined;
    const seen = await monitorCommands(redis.port, async () => {
      answers = await checkAll();
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toContain('"evalsha"');
    expect(answers).toMatchObject([
      { ok: true, session: { user_id: live } },
      { ok: false, reason: 'token_revoked' },
      { ok: false, reason: 'session_replaced' },
      { ok: false, reason: 'token_revoked' },
      { ok: true, session: { user_id: counted }, counted: [[1, expect.any(Number)]] },
      { ok: true, session: { user_id: jtiRevoked } },
    ]);
    // The library reads the count the batch made.
    expect((await limit.peek(userKey(counted))).consumed).toBe(1);
  });

  it('a request whose keys Redis cannot serve fails alone: the rest of its batch is answered', async () => {
    const [good, broken] = [id(), id()];
    const rec = record(good);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    const brokenSid = id();
    await redisCli(redis.port, 'SET', redisKeys.session(broken, brokenSid), 'not-a-hash');
    const [bad, fine] = await Promise.allSettled([
      store.checkAccess(broken, brokenSid, id()),
      store.checkAccess(good, rec.sid, id()),
    ]);
    expect(bad.status).toBe('rejected');
    const err = (bad as PromiseRejectedResult).reason as Error;
    expectUnavailable(err);
    expect(String((err.cause as Error).message)).toMatch(/WRONGTYPE/);
    expect(fine).toMatchObject({ status: 'fulfilled', value: { ok: true, session: { user_id: good } } });
  });

  it('a turn with more than 100 checks sends them in commands of at most 100', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    await store.checkAccess(uid, rec.sid, id()); // loads the script
    let answers: unknown[] = [];
    const seen = await monitorCommands(redis.port, async () => {
      answers = await Promise.all(Array.from({ length: 250 }, () => store.checkAccess(uid, rec.sid, id())));
    });
    expect(seen).toHaveLength(3);
    expect(seen.map((line) => line.match(/"evalsha" "\w+" "(\d+)"/)?.[1])).toEqual(['300', '300', '150']);
    expect(answers.every((a) => (a as { ok: boolean }).ok)).toBe(true);
  });

  it('a session checked before is not sent again, and Redis alone still decides it: roles, deactivation, end', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    const first = await store.checkAccess(uid, rec.sid, id());
    expect(first).toMatchObject({ ok: true, session: { email: rec.email, roles: rec.roles, ip: rec.ip } });
    // The second check asks for the record without its fixed part ('0') and still returns all of it.
    const seen = await monitorCommands(redis.port, () => store.checkAccess(uid, rec.sid, id()));
    expect(seen[0]).toMatch(/"evalsha" .* "0"$/);
    const again = await store.checkAccess(uid, rec.sid, id());
    expect(again).toEqual(first);

    await store.updateUserSessions(uid, { roles: ['admin'] });
    expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({
      ok: true,
      session: { roles: ['admin'] },
    });
    await store.updateUserSessions(uid, { active: false });
    expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({
      ok: true,
      session: { active: false },
    });
    await store.endSession(uid, rec.sid, 'token_revoked');
    expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
  });

  it('checkAccess counts rate-limiter-flexible counters in its one command: the library reads, resets and blocks them', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    const hour = limiters.create(
      `rt-hour-${id()}`,
      { points: 2, duration_ms: 3_600_000, text: '2/h' },
      {
        failClosed: false,
      },
    );
    const ever = limiters.create(
      `rt-ever-${id()}`,
      { points: 5, duration_ms: 0, text: '5' },
      {
        failClosed: false,
      },
    );
    const key = userKey(uid);
    const counters = [hour.counter(key), ever.counter(key)];
    await store.checkAccess(uid, rec.sid, id(), counters); // loads the script
    const seen = await monitorCommands(redis.port, () => store.checkAccess(uid, rec.sid, id(), counters));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toContain('"evalsha"');

    // Counted also when the session is gone: the limit does not depend on the answer.
    const dead = await store.checkAccess(uid, id(), id(), counters);
    expect(dead).toMatchObject({
      ok: false,
      reason: 'token_revoked',
      counted: [
        [3, expect.any(Number)],
        [3, -1],
      ],
    });
    const [h, e] = dead.counted!;
    expect(h![1]).toBeGreaterThan(3_590_000);
    expect(hour.read(h!)).toMatchObject({ allowed: false, consumed: 3, remaining: 0, limit: 2 });
    expect(ever.read(e!)).toEqual({ allowed: true, consumed: 3, remaining: 2, limit: 5, resetMs: 0 });
    // The same counters through rate-limiter-flexible, and back.
    expect(await hour.peek(key)).toMatchObject({ consumed: 3, allowed: false });
    expect(await ever.consume(key)).toMatchObject({ consumed: 4, allowed: true });
    await hour.reset(key);
    const fresh = await store.checkAccess(uid, rec.sid, id(), counters);
    expect(fresh).toMatchObject({
      ok: true,
      counted: [
        [1, expect.any(Number)],
        [5, -1],
      ],
    });
    await hour.block(key, 10_000);
    const blocked = (await store.checkAccess(uid, rec.sid, id(), counters)).counted!;
    expect(hour.read(blocked[0]!)).toMatchObject({ allowed: false });
    expect(blocked[0]![1]).toBeLessThanOrEqual(10_000);
    // Without counters the answer has none (the shared suite's exact answers).
    expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: true, session: rec });
  });

  it('keeps every key of one user in one hash slot, and the refresh index outside it', () => {
    const uid = id();
    const userKeys = [
      redisKeys.session(uid, 's1'),
      redisKeys.tombstone(uid, 's1'),
      redisKeys.jti(uid, 'j1'),
      redisKeys.sessions(uid),
      redisKeys.profile(uid),
    ];
    const slots = new Set(userKeys.map(keySlot));
    expect(slots.size).toBe(1);
    for (const key of userKeys) expect(key.startsWith(`pc:{u:${uid}}:`)).toBe(true);
    expect(redisKeys.refresh('h').includes('{')).toBe(false);
    // Sanity of the slot function itself against values Redis documents.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('writes every key under the pc: prefix', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    await store.setProfile(uid, '{}', 10_000);
    await store.revokeJti(uid, 'j', Date.now() + 10_000);
    const keys = (await redisCli(redis.port, '--scan', '--pattern', `*${uid}*`)).trim().split('\n').sort();
    expect(keys).toEqual(
      [
        redisKeys.session(uid, rec.sid),
        redisKeys.sessions(uid),
        redisKeys.profile(uid),
        redisKeys.jti(uid, 'j'),
      ].sort(),
    );
  });

  it('a store created while Redis is down answers state_unavailable, then recovers by itself', async () => {
    await redis.kill();
    const down = (await createStateStore(redis.url, { tombstoneTtlMs: 60_000, log })).store;
    try {
      const { err, ms } = await rejection(down.checkAccess(id(), id(), id()));
      expectUnavailable(err);
      expect(ms).toBeLessThan(1200);
      expectUnavailable((await rejection(down.ping())).err);
    } finally {
      await redis.restart();
    }
    try {
      await ready(down);
      expect(await down.checkAccess(id(), id(), id())).toEqual({ ok: false, reason: 'token_revoked' });
    } finally {
      await down.close();
    }
  });

  it('fails closed when Redis dies and after it restarts empty, and recovers without a new store', async () => {
    const uid = id();
    const rec = record(uid);
    const refresh = id();
    await store.createSession(rec, refresh, { max_active: 1, on_exceed: 'evict_oldest' });
    expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);

    await redis.kill();
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['checkAccess', () => store.checkAccess(uid, rec.sid, id())],
        [
          'createSession',
          () => store.createSession(record(uid), id(), { max_active: 1, on_exceed: 'evict_oldest' }),
        ],
        ['endSession', () => store.endSession(uid, rec.sid, 'token_revoked')],
        ['rotateRefresh', () => store.rotateRefresh(refresh, id(), Date.now(), 10_000, 60_000, '')],
        ['revokeJti', () => store.revokeJti(uid, id(), Date.now() + 10_000)],
        ['getProfile', () => store.getProfile(uid)],
        ['firstSeen', () => store.firstSeen(id(), 1000)],
        ['ping', () => store.ping()],
      ];
      for (const [name, call] of calls) {
        const { err, ms } = await rejection(call());
        expectUnavailable(err);
        expect(ms, name).toBeLessThan(1200);
      }
      expect(() => store.touchSession(uid, rec.sid, Date.now())).not.toThrow();
    } finally {
      await redis.restart();
    }
    await ready(store);
    // Empty store: the session is gone, the token is refused, nothing revoked comes back.
    expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
    expect(await store.rotateRefresh(refresh, id(), Date.now(), 10_000, 60_000, '')).toEqual({
      kind: 'unknown',
      reason: null,
    });
    // New logins work on the same store (scripts reload after NOSCRIPT).
    const fresh = record(uid);
    expect(await store.createSession(fresh, id(), { max_active: 1, on_exceed: 'evict_oldest' })).toEqual({
      ok: true,
      evicted: [],
    });
    expect((await store.checkAccess(uid, fresh.sid, id())).ok).toBe(true);
  });

  it('a command in flight when Redis stops answering rejects within the 1 s command timeout', async () => {
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '1500', 'ALL');
    const { err, ms } = await rejection(store.checkAccess(id(), id(), id()));
    expectUnavailable(err);
    expect(ms).toBeGreaterThan(800);
    expect(ms).toBeLessThan(1300);
    await sleep(600);
  });

  it("the limiters' hits of one event-loop turn leave as one command, each counted as the library counts it", async () => {
    const minute = { points: 2, duration_ms: 60_000, text: '2/m' };
    const perIp = limiters.create(`ip-${id()}`, minute, { failClosed: false });
    const lock = limiters.create(
      `lock-${id()}`,
      { points: 3, duration_ms: 0, text: '3' },
      { failClosed: true },
    );
    await perIp.consume('warm-up'); // loads the script
    const answers = await inOneCommand(() => [
      perIp.consume('10.0.0.1'),
      perIp.consume('10.0.0.1'),
      perIp.consume('10.0.0.1'),
      perIp.consume('10.0.0.2'),
      lock.consume('ada@example.com'),
    ]);
    expect(answers.map((s) => [s.allowed, s.consumed, s.remaining])).toEqual([
      [true, 1, 1],
      [true, 2, 0],
      [false, 3, 0],
      [true, 1, 1],
      [true, 1, 2],
    ]);
    expect(answers[0]!.resetMs).toBeGreaterThan(59_000);
    expect(answers[0]!.resetMs).toBeLessThanOrEqual(60_000);
    expect(answers[4]!.resetMs).toBe(0); // a window of 0 never resets
    // Reads, refunds and resets (the store's script) and the library's block use the very same counters.
    expect(await perIp.peek('10.0.0.1')).toMatchObject({ consumed: 3, allowed: false });
    await perIp.refund('10.0.0.2');
    expect(await perIp.consume('10.0.0.2')).toMatchObject({ consumed: 1, allowed: true });
    await lock.block('ada@example.com', 10_000);
    const blocked = await lock.consume('ada@example.com');
    expect(blocked.allowed).toBe(false);
    expect(blocked.resetMs).toBeLessThanOrEqual(10_000);
    await perIp.reset('10.0.0.1');
    expect(await perIp.consume('10.0.0.1')).toMatchObject({ consumed: 1, allowed: true });
  });

  it("a login's counter reads, refunds and resets leave with the turn's hits in one command, as the library does them", async () => {
    const minute = { points: 2, duration_ms: 60_000, text: '2/m' };
    const perIp = limiters.create(`ops-${id()}`, minute, { failClosed: false });
    const epoch = limiters.create(
      `ops-epoch-${id()}`,
      { points: 2 ** 30, duration_ms: 0, text: '' },
      {
        failClosed: true,
      },
    );
    await perIp.consume('warm-up'); // loads the script
    await perIp.consume('gone');
    const answers = await inOneCommand<unknown>(() => [
      perIp.consume('hit'),
      perIp.peek('never-seen'),
      epoch.peek('ada@example.com'),
      perIp.refund('refunded'),
      perIp.reset('gone'),
    ]);
    expect(answers[0]).toMatchObject({ allowed: true, consumed: 1, remaining: 1 });
    // A counter never hit reads as rate-limiter-flexible's get answers null: nothing used, allowed.
    expect(answers[1]).toEqual({ allowed: true, limit: 2, consumed: 0, remaining: 2, resetMs: 0 });
    expect(answers[2]).toMatchObject({ allowed: true, consumed: 0 });
    // The library's reward of a missing counter: the window starts at 0, then one is given back.
    expect((await redisCli(redis.port, 'GET', perIp.counter('refunded').key)).trim()).toBe('-1');
    const ttl = Number(await redisCli(redis.port, 'PTTL', perIp.counter('refunded').key));
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect((await redisCli(redis.port, 'EXISTS', perIp.counter('gone').key)).trim()).toBe('0');
    // A refund gives back one hit of a used-up window; a read counts nothing.
    await perIp.consume('hit');
    expect(await perIp.consume('hit')).toMatchObject({ allowed: false, consumed: 3 });
    expect(await perIp.peek('hit')).toMatchObject({ allowed: false, consumed: 3, remaining: 0 });
    await perIp.refund('hit');
    const read = await perIp.peek('hit');
    expect(read).toMatchObject({ allowed: false, consumed: 2, remaining: 0 });
    expect(read.resetMs).toBeGreaterThan(58_000);
    // A counter the library blocked reads as blocked, until its block ends.
    await epoch.block('ada@example.com', 10_000);
    const blocked = await epoch.peek('ada@example.com');
    expect(blocked.allowed).toBe(false);
    expect(blocked.resetMs).toBeGreaterThan(9_000);
    expect(blocked.resetMs).toBeLessThanOrEqual(10_000);
  });

  it('a counter Redis cannot count fails alone: the others of its turn count, and the breaker stays closed', async () => {
    const rate = { points: 5, duration_ms: 60_000, text: '5/m' };
    const insured = limiters.create(`insured-${id()}`, rate, { failClosed: false });
    const lock = limiters.create(`bad-lock-${id()}`, rate, { failClosed: true });
    // A key of the wrong type: INCRBY answers WRONGTYPE inside the script.
    await redisCli(redis.port, 'HSET', lock.counter('broken').key, 'f', 'v');
    await redisCli(redis.port, 'HSET', insured.counter('broken').key, 'f', 'v');
    const [good, lockErr, insuredBroken] = await Promise.allSettled([
      insured.consume('fine'),
      lock.consume('broken'),
      insured.consume('broken'),
    ]);
    expect(good).toMatchObject({ status: 'fulfilled', value: { consumed: 1, allowed: true } });
    expect(lockErr.status).toBe('rejected');
    expectUnavailable((lockErr as PromiseRejectedResult).reason);
    // The insured limiter answers from its process memory for that key alone.
    expect(insuredBroken).toMatchObject({ status: 'fulfilled', value: { consumed: 1, allowed: true } });
    // Not an outage: the next hits still count in Redis.
    expect(await insured.consume('fine')).toMatchObject({ consumed: 2 });
    expect((await redisCli(redis.port, 'GET', insured.counter('fine').key)).trim()).toBe('2');
  });

  it('limiters share the connection: fail-closed ones throw state_unavailable, insured ones count in memory', async () => {
    const rate = { points: 2, duration_ms: 60_000, text: '2/m' };
    const lockout = limiters.create(`lock-${id()}`, rate, { failClosed: true });
    const global = limiters.create(`global-${id()}`, rate, { failClosed: false });
    expect((await global.consume('ip')).allowed).toBe(true);
    const stored = await redisCli(redis.port, '--scan', '--pattern', 'pc:rl:*');
    expect(stored).toContain('pc:rl:global-');

    await redis.kill();
    try {
      expectUnavailable((await rejection(lockout.consume('ada@example.com'))).err);
      const counted = [await global.consume('ip'), await global.consume('ip'), await global.consume('ip')];
      expect(counted.map((s) => s.allowed)).toEqual([true, true, false]);
    } finally {
      await redis.restart();
    }
    await ready(store);
    expect((await lockout.consume('ada@example.com')).allowed).toBe(true);
  });

  it('an error answered by the server (wrong type) is state_unavailable, not a crash or a 500', async () => {
    const uid = id();
    await redisCli(redis.port, 'SET', redisKeys.sessions(uid), 'not-a-zset');
    const { err } = await rejection(
      store.createSession(record(uid), id(), { max_active: 1, on_exceed: 'evict_oldest' }),
    );
    expectUnavailable(err);
    expect((err as Error).cause).toMatchObject({ name: 'ReplyError' });
  });

  it('a session record it cannot read fails closed with state_unavailable', async () => {
    const uid = id();
    const rec = record(uid);
    await store.createSession(rec, id(), { max_active: 1, on_exceed: 'evict_oldest' });
    await redisCli(redis.port, 'HSET', redisKeys.session(uid, rec.sid), 'roles', '{"admin":true}');
    expectUnavailable((await rejection(store.checkAccess(uid, rec.sid, id()))).err);
  });

  it('close() quits cleanly and is idempotent', async () => {
    await store.close();
    await store.close();
    expectUnavailable((await rejection(store.ping())).err);
  });
});

/** CRC16-XMODEM mod 16384 over the hash tag, as Redis Cluster computes KEYSLOT. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  let tagged = key;
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) tagged = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(tagged)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
