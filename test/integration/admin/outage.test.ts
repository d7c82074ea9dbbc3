// The admin API while the state store stalls (a real Redis paused with CLIENT PAUSE, its connections
// held open): a call that needs it is 503 state_unavailable and logged as an outage, not as a bug.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { expectFailure, registerAndLogin } from '../accounts/support.js';
import { waitFor } from '../helpers.js';
import { type AdminFixture, admin, startAdminFixture } from './support.js';

let redis: RedisServer;
let fx: AdminFixture;
let userId: string;

beforeAll(async () => {
  redis = await startRedis();
  fx = await startAdminFixture({ base: { state: redis.url } });
  userId = (await registerAndLogin(fx.gw)).id;
});
afterAll(async () => {
  await redisCli(redis.port, 'CLIENT', 'UNPAUSE').catch(() => undefined);
  await fx?.close();
  await redis?.stop();
});

describe('admin API during a state store outage', () => {
  it('a 503 is logged at warn with the cause message only, never at error with a stack', async () => {
    const path = `/api/users/${userId}/sessions`;
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '5000', 'ALL');
    try {
      expectFailure(await admin(fx.gw, 'GET', path), 503, 'state_unavailable');
    } finally {
      await redisCli(redis.port, 'CLIENT', 'UNPAUSE');
    }
    const failed = () => fx.gw.logs.filter((l) => l.msg === 'admin request failed');
    await waitFor(() => failed().length > 0, 2_000, 'the admin request failed line');
    expect(failed()).toHaveLength(1);
    const [line] = failed();
    expect(line).toMatchObject({ level: 'warn', code: 'state_unavailable', path, cause: expect.any(String) });
    expect(line).not.toHaveProperty('err');
    expect(line!.cause).not.toMatch(/\n\s+at /);
    // The store is back: the same call answers again.
    expect((await admin(fx.gw, 'GET', path)).status).toBe(200);
  }, 30_000);
});
