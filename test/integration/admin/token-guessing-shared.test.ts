// admin.token_failures in the state store: two gateway processes' worth of services (two gateways in this
// process, each with its own Redis connection and limiters) on one real Redis count an address's refusals
// at the admin token gate in one window, and guesses sent all at once get no more 401s than the limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { expectFailure } from '../accounts/support.js';
import { admin, adminOk } from './support.js';

let redis: RedisServer;
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  redis = await startRedis();
  const base = { state: redis.url, admin: 'token_failures: 3/m' };
  [a, b] = await Promise.all([
    startTestGateway('routes: []', { base }),
    startTestGateway('routes: []', { base }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

const guess = (i: number): string => `wrong-token-${i}-aaaaaaaaaaaaaaaaaaaaaaaa`;

describe('admin token guessing across replicas', () => {
  it('SECURITY: refusals on every replica count against one window per address', async () => {
    await adminOk(a, 'GET', '/api/routes');
    await adminOk(b, 'GET', '/api/routes');
    const from = '127.0.0.2';
    for (const [i, gw] of [a, b, a].entries())
      expectFailure(await admin(gw, 'GET', '/api/routes', { token: guess(i), from }), 401, 'invalid_token');
    // Each replica saw fewer than three refusals; together they used the window up.
    for (const gw of [b, a]) {
      const locked = await admin(gw, 'GET', '/api/routes', { from });
      expectFailure(locked, 429, 'rate_limited');
      expect(locked.headers['ratelimit-limit']).toBe('3');
    }
    // Another address is not locked out.
    await adminOk(b, 'GET', '/api/routes', { from: '127.0.0.3' });
    // One warn line for the lock, from the replica whose refusal used the window up.
    const lockLines = (gw: TestGateway) =>
      gw.logs.filter((l) => typeof l.msg === 'string' && /too many refusals/.test(l.msg));
    expect(lockLines(a)).toHaveLength(1);
    expect(lockLines(b)).toHaveLength(0);
  });

  it('SECURITY: guesses sent all at once get no more 401 answers than admin.token_failures', async () => {
    const from = '127.0.0.4';
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        admin(i % 2 === 0 ? a : b, 'GET', '/api/stats', { token: guess(i), from }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(17);
    // The right token from that address is refused too until the window ends.
    expectFailure(await admin(a, 'GET', '/api/stats', { from }), 429, 'rate_limited');
  });
});
