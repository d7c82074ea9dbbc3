// The global limit covers every request on the main listener (DESIGN.md), refused ones included: a
// request answered before the limits (a bad token, no route, a bad path) counts against the client's
// address, or against the user when its token was verified, and carries the RateLimit-* headers; once
// the limit is used up its answer is 429. Before, such requests were never counted: one address could
// probe forged tokens without end. Memory and Redis state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  expectFailure,
  FAST_ARGON2,
  intHeader,
  limitsYaml,
  loginOk,
  OTHER_UA,
  type Reply,
  redisDb,
  registerOk,
  routesYaml,
  send,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
const gateways: Record<'memory' | 'redis', TestGateway> = {} as Record<'memory' | 'redis', TestGateway>;

const ANONYMOUS = 4;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  const yaml = [
    FAST_ARGON2,
    limitsYaml({ anonymous: `${ANONYMOUS}/h`, authenticated: '3/h' }),
    routesYaml(upstream.origin),
    'device_binding: { mode: user-agent, on_mismatch: reject }',
  ].join('\n');
  const [memory, onRedis] = await Promise.all([
    startTestGateway(yaml, { base: { logLevel: 'warn' } }),
    startTestGateway(yaml, { base: { logLevel: 'warn', state: redisDb(redis.url, 0) } }),
  ]);
  gateways.memory = memory;
  gateways.redis = onRedis;
});

afterAll(async () => {
  await Promise.all(Object.values(gateways).map((gw) => gw.stop()));
  await Promise.all([redis?.stop(), upstream?.close()]);
});

function remaining(reply: Reply): number {
  expect(intHeader(reply, 'ratelimit-limit')).toBeGreaterThan(0);
  return intHeader(reply, 'ratelimit-remaining');
}

describe.each(['memory', 'redis'] as const)(
  'refused requests count against the global limit (%s state)',
  (kind) => {
    // Each test comes from its own loopback address: the anonymous counter is per client address.
    const base = kind === 'memory' ? 10 : 20;

    it('forged-token probing from one address stops at the global limit (401s counted, then 429)', async () => {
      const gw = gateways[kind];
      const from = `127.0.0.${base + 1}`;
      const seen: number[] = [];
      for (let i = 0; i < ANONYMOUS; i++) {
        const res = await send(gw, 'GET', '/api/orders/1', { token: `forged.${i}.token`, from });
        expectFailure(res, 401, 'invalid_token');
        expect(res.headers['www-authenticate']).toContain('Bearer');
        seen.push(remaining(res));
      }
      expect(seen).toEqual([3, 2, 1, 0]);
      const over = await send(gw, 'GET', '/api/orders/1', { token: 'forged.again.token', from });
      expectFailure(over, 429, 'rate_limited');
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      // The same counter as the address's other anonymous requests.
      expectFailure(await send(gw, 'GET', '/public/x', { from }), 429, 'rate_limited');
      expect(upstream.requests.filter((r) => r.url === '/public/x')).toHaveLength(0);
    });

    it('unknown routes, refused paths and expectations are counted too', async () => {
      const gw = gateways[kind];
      const from = `127.0.0.${base + 2}`;
      const first = await send(gw, 'GET', '/no/such/route', { from });
      expectFailure(first, 404, 'route_not_found');
      expect(remaining(first)).toBe(ANONYMOUS - 1);
      const bad = await send(gw, 'GET', '/public/a/%2e%2e/b', { from });
      expectFailure(bad, 400, 'bad_path');
      expect(remaining(bad)).toBe(ANONYMOUS - 2);
      const missing = await send(gw, 'GET', '/api/orders/1', { from });
      expectFailure(missing, 401, 'missing_token');
      expect(remaining(missing)).toBe(ANONYMOUS - 3);
      const expectation = await send(gw, 'GET', '/public/y', { from, headers: { expect: 'the-moon' } });
      expectFailure(expectation, 417, 'expectation_failed');
      expect(remaining(expectation)).toBe(0);
      expectFailure(await send(gw, 'GET', '/no/such/route', { from }), 429, 'rate_limited');
    });

    it("a verified token's refusal counts against its user, not the address; others from the address go on", async () => {
      const gw = gateways[kind];
      const from = `127.0.0.${base + 3}`;
      const account = await registerOk(gw, `127.0.0.${base + 4}`);
      const session = await loginOk(gw, account.email, undefined, { from: `127.0.0.${base + 4}` });
      // A device mismatch (reject mode) is refused after the token was verified: the user's counter.
      const mismatch = await send(gw, 'GET', '/api/orders/1', { token: session.access, ua: OTHER_UA, from });
      expectFailure(mismatch, 401, 'device_mismatch');
      expect(remaining(mismatch)).toBe(2);
      const ok = await send(gw, 'GET', '/api/orders/1', { token: session.access, from });
      expect(ok.status).toBe(200);
      expect(remaining(ok)).toBe(1);
      // The address's anonymous counter was not touched by them.
      expect(remaining(await send(gw, 'GET', '/public/z', { from }))).toBe(ANONYMOUS - 1);
    });
  },
);
