// A change of password whose sessions cannot be ended (the state store stopped answering) is answered
// 503 and leaves the old password in place: never a new password that the client was told did not take
// beside the old sessions it was meant to end. (The sessions may still end: the command was on its way
// when the store stopped.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { call, expectFailure, login, PASSWORD, registerAndLogin } from '../accounts/support.js';
import { type FlowsGateway, mailedToken, startFlowsGateway } from './support.js';

const NEW_PASSWORD = 'amber-lantern-orchard-58';

let redis: RedisServer;
let f: FlowsGateway;
beforeAll(async () => {
  redis = await startRedis();
  f = await startFlowsGateway({ state: redis.url });
});
afterAll(async () => {
  await f?.stop();
  await redis?.stop();
});

/** Runs `work` with the state store frozen (SIGSTOP: connections open, nothing answered). */
async function withRedisFrozen<T>(work: () => Promise<T>): Promise<T> {
  const pid = Number(/process_id:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'server'))![1]);
  process.kill(pid, 'SIGSTOP');
  try {
    return await work();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('a password reset while the state store does not answer', () => {
  it('SECURITY: is 503 and leaves the old password in place (it had changed the password, spent the link and left the sessions)', async () => {
    const { user } = await registerAndLogin(f.gw);
    const asked = await call(f.gw, 'POST', '/api/auth/password-reset/request', {
      json: { email: user.email },
    });
    expect(asked.status).toBe(202);
    const { token } = await mailedToken(f.sink, user.email, /Reset your password/);
    const reset = await withRedisFrozen(() =>
      call(f.gw, 'POST', '/api/auth/password-reset/confirm', {
        json: { token, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD },
      }),
    );
    expectFailure(reset, 503, 'state_unavailable');
    await new Promise((r) => setTimeout(r, 1_200)); // past the store's one-second memory of the failure
    expect((await login(f.gw, user.email, PASSWORD)).status).toBe(200);
    expectFailure(await login(f.gw, user.email, NEW_PASSWORD), 401, 'invalid_credentials');
  });
});
