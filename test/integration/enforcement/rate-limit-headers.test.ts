// RateLimit-Limit / -Remaining / -Reset on answers that passed a limit and on every 429, Retry-After on
// 429s, and the choice of the most constrained limit (lowest remaining; on a tie, the later reset).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  expectFailure,
  intHeader,
  loginFrom,
  loginOk,
  PASSWORD,
  type Reply,
  registerOk,
  routesYaml,
  send,
  startRedisGateway,
  WRONG,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let gw: TestGateway;
let tie: TestGateway;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  const extra = `  - { name: limited, path: /limited, upstream: "${upstream.origin}", auth: public, rate_limit: 3/m }
  - { name: limited-auth, path: /mine, upstream: "${upstream.origin}", auth: required, rate_limit: 3/m }`;
  [gw, tie] = await Promise.all([
    startRedisGateway({
      redis: redis.url,
      db: 0,
      yaml: routesYaml(upstream.origin, extra),
      limits: { anonymous: '100/h', authenticated: '100/h', loginEmail: '5/m', loginIp: '10/m' },
      bruteForce: 'failure_limit: 2',
    }),
    startRedisGateway({
      redis: redis.url,
      db: 1,
      yaml: routesYaml(upstream.origin, extra.replace('rate_limit: 3/m', 'rate_limit: 5/m')),
      limits: { anonymous: '5/h' },
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([gw?.stop(), tie?.stop()]);
  await Promise.all([redis?.stop(), upstream?.close()]);
});

interface Headers {
  limit: number;
  remaining: number;
  reset: number;
}

function limits(reply: Reply): Headers {
  // Three separate headers, each one integer (not the combined structured `RateLimit` field).
  expect(reply.headers.ratelimit).toBeUndefined();
  return {
    limit: intHeader(reply, 'ratelimit-limit'),
    remaining: intHeader(reply, 'ratelimit-remaining'),
    reset: intHeader(reply, 'ratelimit-reset'),
  };
}

function expectRefusal(reply: Reply, code: string, limit: number, maxResetS: number): void {
  expectFailure(reply, 429, code);
  const h = limits(reply);
  expect(h).toMatchObject({ limit, remaining: 0 });
  expect(h.reset).toBeGreaterThanOrEqual(1);
  expect(h.reset).toBeLessThanOrEqual(maxResetS);
  const retry = intHeader(reply, 'retry-after');
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(Math.abs(retry - h.reset)).toBeLessThanOrEqual(1);
}

describe('RateLimit-* headers', () => {
  it('route 3/m against global 100/h: successes and the 429 show the route limit, Reset in seconds', async () => {
    const from = '127.0.0.81';
    for (let i = 0; i < 3; i++) {
      const reply = await send(gw, 'GET', '/limited', { from });
      expect(reply.status).toBe(200);
      const h = limits(reply);
      expect(h).toMatchObject({ limit: 3, remaining: 2 - i });
      expect(h.reset).toBeGreaterThanOrEqual(1);
      expect(h.reset).toBeLessThanOrEqual(60);
    }
    expectRefusal(await send(gw, 'GET', '/limited', { from }), 'rate_limited', 3, 60);
    expect(upstream.requests.filter((r) => r.url === '/limited')).toHaveLength(3);
  });

  it('a route without its own limit shows the global one (per IP)', async () => {
    const reply = await send(gw, 'GET', '/public', { from: '127.0.0.82' });
    const h = limits(reply);
    expect(h).toMatchObject({ limit: 100, remaining: 99 });
    expect(h.reset).toBeGreaterThan(60);
    expect(h.reset).toBeLessThanOrEqual(3600);
  });

  it('a route limit counts per user when authenticated, whatever the IP', async () => {
    const u = await registerOk(gw, '127.0.0.83');
    const s = await loginOk(gw, u.email, PASSWORD, { from: '127.0.0.83' });
    for (const from of ['127.0.0.84', '127.0.0.85', '127.0.0.86']) {
      const reply = await send(gw, 'GET', '/mine', { token: s.access, from });
      expect(reply.status).toBe(200);
      expect(limits(reply).limit).toBe(3);
    }
    expectRefusal(
      await send(gw, 'GET', '/mine', { token: s.access, from: '127.0.0.87' }),
      'rate_limited',
      3,
      60,
    );
    // A dead session is judged before an exhausted limit: 401, not 429.
    expect((await send(gw, 'POST', '/api/auth/logout', { token: s.access, from: '127.0.0.87' })).status).toBe(
      200,
    );
    expectFailure(
      await send(gw, 'GET', '/mine', { token: s.access, from: '127.0.0.87' }),
      401,
      'token_revoked',
    );
    const other = await registerOk(gw, '127.0.0.83');
    const so = await loginOk(gw, other.email, PASSWORD, { from: '127.0.0.83' });
    expect((await send(gw, 'GET', '/mine', { token: so.access, from: '127.0.0.87' })).status).toBe(200);
  });

  it("SECURITY: a revoked token replayed does not use up its owner's limits (it did, until the token expired)", async () => {
    const u = await registerOk(gw, '127.0.0.90');
    const stolen = await loginOk(gw, u.email, PASSWORD, { from: '127.0.0.90' });
    expect(
      (await send(gw, 'POST', '/api/auth/logout', { token: stolen.access, from: '127.0.0.90' })).status,
    ).toBe(200);
    for (let i = 0; i < 5; i++) {
      const replay = await send(gw, 'GET', '/mine', { token: stolen.access, from: '127.0.0.91' });
      expectFailure(replay, 401, 'token_revoked');
      // Counted against the replaying address, as any refused anonymous request.
      expect(limits(replay)).toMatchObject({ limit: 100, remaining: 99 - i });
    }
    const owner = await loginOk(gw, u.email, PASSWORD, { from: '127.0.0.90' });
    const first = await send(gw, 'GET', '/mine', { token: owner.access, from: '127.0.0.90' });
    expect(first.status).toBe(200);
    expect(limits(first)).toMatchObject({ limit: 3, remaining: 2 });
  });

  it('own endpoints: a login shows its per-email limit (5/m), the tightest of login and global', async () => {
    const u = await registerOk(gw, '127.0.0.88');
    const reply = await loginFrom(gw, u.email, PASSWORD, { from: '127.0.0.89' });
    expect(reply.status).toBe(200);
    expect(limits(reply)).toMatchObject({ limit: 5, remaining: 4 });
    const profile = await send(gw, 'GET', '/api/users/me', {
      token: (reply.body!.data as { access: string }).access,
    });
    expect(limits(profile)).toMatchObject({ limit: 100 });
  });

  it('account_locked is a 429 with Retry-After and RateLimit-* too', async () => {
    const u = await registerOk(gw, '127.0.0.90');
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(gw, u.email, WRONG, { from: '127.0.0.90' }), 401, 'invalid_credentials');
    expectRefusal(await loginFrom(gw, u.email, PASSWORD, { from: '127.0.0.90' }), 'account_locked', 2, 3600);
  });

  it('on a tie of remaining counts, the limit that resets last is shown (global 5/h over route 5/m)', async () => {
    const from = '127.0.0.91';
    const first = limits(await send(tie, 'GET', '/limited', { from }));
    expect(first).toMatchObject({ limit: 5, remaining: 4 });
    expect(first.reset).toBeGreaterThan(60);
    for (let i = 0; i < 4; i++) expect((await send(tie, 'GET', '/limited', { from })).status).toBe(200);
    // Both are used up now: waiting for the route's minute would only meet the global hour's refusal.
    const refused = await send(tie, 'GET', '/limited', { from });
    expectFailure(refused, 429, 'rate_limited');
    const h = limits(refused);
    expect(h).toMatchObject({ limit: 5, remaining: 0 });
    expect(h.reset).toBeGreaterThan(60);
    expect(intHeader(refused, 'retry-after')).toBeGreaterThan(60);
  });
});
