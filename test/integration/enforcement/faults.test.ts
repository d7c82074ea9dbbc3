// Losing the state store mid-run: redis-server is SIGKILLed under running gateways (deny and allow),
// then restarted empty on the same port. The steps run in order and share the gateways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { timed } from '../../support/timed.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  expectFailure,
  intHeader,
  loginFrom,
  loginOk,
  newUser,
  OTHER_UA,
  PASSWORD,
  registerOk,
  routesYaml,
  type Session,
  send,
  sleep,
  startRedisGateway,
  WRONG,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let deny: TestGateway;
let allow: TestGateway;
let late: TestGateway | undefined;
const users: Record<string, { id: string; email: string; session: Session }> = {};

async function userOn(g: TestGateway, name: string): Promise<void> {
  const account = await registerOk(g);
  users[name] = { ...account, session: await loginOk(g, account.email) };
}

const forwarded = (prefix: string): number =>
  upstream.requests.filter((r) => r.url.startsWith(prefix)).length;

/**
 * `limit` GETs of `path` pass with RateLimit-Limit and a falling RateLimit-Remaining, the next is 429
 * rate_limited with Retry-After, and only the passing ones reached the upstream.
 */
async function expectLimit(
  g: TestGateway,
  path: string,
  limit: number,
  opts: Parameters<typeof send>[3],
): Promise<void> {
  for (let i = 0; i < limit; i++) {
    const ok = await send(g, 'GET', path, opts);
    expect(ok.status, ok.text).toBe(200);
    expect(intHeader(ok, 'ratelimit-limit')).toBe(limit);
    expect(intHeader(ok, 'ratelimit-remaining')).toBe(limit - 1 - i);
  }
  const refused = await send(g, 'GET', path, opts);
  expectFailure(refused, 429, 'rate_limited');
  expect(intHeader(refused, 'retry-after')).toBeGreaterThanOrEqual(1);
  expect(forwarded(path)).toBe(limit);
}

async function readyz(g: TestGateway): Promise<number> {
  const res = await fetch(`${g.adminUrl}/readyz`);
  await res.arrayBuffer();
  return res.status;
}

async function waitReady(g: TestGateway, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await readyz(g)) !== 200) {
    if (Date.now() > deadline) throw new Error('gateway did not become ready');
    await sleep(100);
  }
}

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  const routes = routesYaml(
    upstream.origin,
    `  - { name: capped, path: /capped, upstream: "${upstream.origin}", auth: required, rate_limit: 2/m }`,
  );
  [deny, allow] = await Promise.all([
    startRedisGateway({ redis: redis.url, db: 0, yaml: routes, limits: { anonymous: '5/m' } }),
    startRedisGateway({
      redis: redis.url,
      db: 1,
      yaml: routes,
      bruteForce: 'failure_limit: 3',
      base: { storage: 'on_state_error: allow' },
    }),
  ]);
  await Promise.all([userOn(deny, 'a'), userOn(deny, 'b'), userOn(allow, 'c'), userOn(allow, 'd')]);
  expect((await send(deny, 'GET', '/api/orders/before', { token: users.a!.session.access })).status).toBe(
    200,
  );
  expect(await readyz(deny)).toBe(200);
});

afterAll(async () => {
  await Promise.all([deny?.stop(), allow?.stop(), late?.stop()]);
  await Promise.all([redis?.stop(), upstream?.close()]);
});

describe('redis-server frozen (SIGSTOP): connected, but no answer', () => {
  let pid = 0;
  beforeAll(async () => {
    pid = Number(/process_id:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'server'))![1]);
    process.kill(pid, 'SIGSTOP');
  });
  afterAll(async () => {
    if (pid !== 0) process.kill(pid, 'SIGCONT');
    await waitReady(deny);
  });

  it('an authenticated request is 503 state_unavailable after the 1 s command timeout, never forwarded', async () => {
    const { value: reply, ms } = await timed(() =>
      send(deny, 'GET', '/api/orders/frozen', { token: users.a!.session.access }),
    );
    expectFailure(reply, 503, 'state_unavailable');
    expect(ms).toBeLessThan(1_600);
    expect(forwarded('/api/orders/frozen')).toBe(0);
  });

  it('a login is 503 state_unavailable within the same bound, not one timeout per round trip', async () => {
    await sleep(1_100);
    const { value: reply, ms } = await timed(() =>
      loginFrom(deny, users.b!.email, PASSWORD, { from: '127.0.0.66' }),
    );
    expectFailure(reply, 503, 'state_unavailable');
    expect(ms).toBeLessThan(1_600);
  });

  it('logout is 503 state_unavailable within the same bound', async () => {
    await sleep(1_100); // past the limiter's memory of the last failure: each step meets the timeout itself
    const { value: reply, ms } = await timed(() =>
      send(deny, 'POST', '/api/auth/logout', { token: users.b!.session.access }),
    );
    expectFailure(reply, 503, 'state_unavailable');
    expect(ms).toBeLessThan(1_600);
  });

  // The store remembers a failure for 1 s like the limiters, so a refresh never meets two timeouts in a row.
  it('refresh is 503 state_unavailable within the same bound', async () => {
    await sleep(1_100);
    const { value: reply, ms } = await timed(() =>
      send(deny, 'POST', '/api/auth/refresh', {
        json: { refresh: users.b!.session.refresh },
        from: '127.0.0.67',
      }),
    );
    expectFailure(reply, 503, 'state_unavailable');
    expect(ms).toBeLessThan(1_600);
  });

  it('/readyz answers 503 within ~1 s', async () => {
    const t0 = performance.now();
    expect(await readyz(deny)).toBe(503);
    expect(performance.now() - t0).toBeLessThan(1_600);
  });

  it('a public route is still served (its limit answered from memory after the timeout)', async () => {
    const { value: reply, ms } = await timed(() =>
      send(deny, 'GET', '/public/frozen', { from: '127.0.0.65' }),
    );
    expect(reply.status).toBe(200);
    expect(ms).toBeLessThan(1_600);
  });
});

describe('redis-server killed (on_state_error: deny)', () => {
  beforeAll(async () => {
    await redis.kill();
  });

  it('authenticated requests get 503 state_unavailable within ~1 s and are never forwarded', async () => {
    const before = forwarded('/api/orders/down');
    for (const path of ['/api/orders/down', '/api/orders/down/2', '/maybe/down', '/api/users/me']) {
      const { value: reply, ms } = await timed(() =>
        send(deny, 'GET', path, { token: users.a!.session.access }),
      );
      expectFailure(reply, 503, 'state_unavailable');
      expect(ms).toBeLessThan(1_500);
    }
    expect(forwarded('/api/orders/down')).toBe(before);
    expect(forwarded('/maybe/down')).toBe(0);
  });

  it('login, refresh and logout get 503 state_unavailable', async () => {
    const b = users.b!;
    for (const run of [
      () => loginFrom(deny, b.email, PASSWORD),
      () => send(deny, 'POST', '/api/auth/refresh', { json: { refresh: b.session.refresh } }),
      () => send(deny, 'POST', '/api/auth/logout', { token: b.session.access }),
    ]) {
      const { value: reply, ms } = await timed(run);
      expectFailure(reply, 503, 'state_unavailable');
      expect(ms).toBeLessThan(1_500);
    }
  });

  it('public routes are still served and still rate-limited (per-process memory)', async () => {
    await expectLimit(deny, '/public/down', 5, { from: '127.0.0.62' });
  });

  it('registration still works (it needs only the user store)', async () => {
    const reply = await send(deny, 'POST', '/api/auth/register', { json: newUser(), from: '127.0.0.63' });
    expect(reply.status, reply.text).toBe(201);
  });

  it('the admin /readyz answers 503', async () => {
    expect(await readyz(deny)).toBe(503);
  });

  it('a gateway started while Redis is down starts anyway, not ready', async () => {
    late = await startRedisGateway({ redis: redis.url, db: 2, yaml: routesYaml(upstream.origin) });
    expect(await readyz(late)).toBe(503);
    expectFailure(await loginFrom(late, 'someone@example.com', PASSWORD), 503, 'state_unavailable');
  });
});

describe('redis-server killed (on_state_error: allow)', () => {
  it('a valid token is forwarded, judged by signature and expiry; the skip is logged and counted', async () => {
    const c = users.c!;
    const skippedBefore = allow.stateChecksSkipped();
    const reply = await send(allow, 'GET', '/api/orders/allowed', { token: c.session.access });
    expect(reply.status, reply.text).toBe(200);
    const seen = upstream.requests.filter((r) => r.url === '/api/orders/allowed');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers['x-user-id']).toBe(c.id);
    expect(allow.stateChecksSkipped()).toBeGreaterThan(skippedBefore);
    expect(allow.logs.some((l) => l.msg === 'state store unavailable: session check skipped')).toBe(true);
  });

  it('per-user limits (the route and the global) still count, in process memory: 2/m, then 429', async () => {
    await expectLimit(allow, '/capped/down', 2, { token: users.c!.session.access });
  });

  it('a bad token is still refused: the signature is not a state-store check', async () => {
    const forged = `${users.c!.session.access.slice(0, -3)}AAA`;
    expectFailure(await send(allow, 'GET', '/api/orders/allowed', { token: forged }), 401, 'invalid_token');
  });

  it('a token from another User-Agent is still 401 device_mismatch (the revocation is what is skipped)', async () => {
    const skippedBefore = allow.stateChecksSkipped();
    const reply = await send(allow, 'GET', '/api/orders/allowed-ua', {
      token: users.d!.session.access,
      ua: OTHER_UA,
    });
    expectFailure(reply, 401, 'device_mismatch');
    expect(forwarded('/api/orders/allowed-ua')).toBe(0);
    expect(allow.stateChecksSkipped()).toBe(skippedBefore + 1);
    expect(
      allow.logs.some((l) => l.msg === 'state store unavailable: device-mismatch revocation skipped'),
    ).toBe(true);
  });

  it('the brute-force lock still holds, counted in process memory: failure_limit 3, then 429 account_locked', async () => {
    const from = '127.0.0.64';
    for (let i = 0; i < 3; i++)
      expectFailure(await loginFrom(allow, users.d!.email, WRONG, { from }), 401, 'invalid_credentials');
    expectFailure(await loginFrom(allow, users.d!.email, PASSWORD, { from }), 429, 'account_locked');
  });

  it('a login issues tokens without recording a session', async () => {
    const c = users.c!;
    const reply = await loginFrom(allow, c.email, PASSWORD);
    expect(reply.status, reply.text).toBe(200);
    const access = (reply.body!.data as { access: string }).access;
    expect((await send(allow, 'GET', '/api/orders/allowed-login', { token: access })).status).toBe(200);
  });
});

describe('redis-server killed (on_state_error: allow), the profile', () => {
  // The profile cache is a cache: when it is down the user store answers.
  it('GET /api/users/me with a valid token is served from the user store', async () => {
    const reply = await send(allow, 'GET', '/api/users/me', { token: users.c!.session.access });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body?.data).toMatchObject({ id: users.c!.id });
  });
});

describe('redis-server restarted empty on the same port', () => {
  beforeAll(async () => {
    await redis.restart();
  });

  it('/readyz is 200 again without restarting the gateway, the late starter included', async () => {
    await waitReady(deny);
    await waitReady(late!);
  });

  it('tokens issued before are refused (401 token_revoked); new logins work and are forwarded', async () => {
    const a = users.a!;
    expectFailure(
      await send(deny, 'GET', '/api/orders/after', { token: a.session.access }),
      401,
      'token_revoked',
    );
    const fresh = await loginOk(deny, a.email);
    expect((await send(deny, 'GET', '/api/orders/after', { token: fresh.access })).status).toBe(200);
    expect(forwarded('/api/orders/after')).toBe(1);
    expect((await send(deny, 'POST', '/api/auth/logout', { token: fresh.access })).status).toBe(200);
    expectFailure(
      await send(deny, 'GET', '/api/orders/after', { token: fresh.access }),
      401,
      'token_revoked',
    );
  });

  it('with on_state_error: allow the checks resume: the old token is refused again', async () => {
    await waitReady(allow);
    expectFailure(
      await send(allow, 'GET', '/api/orders/allowed-after', { token: users.c!.session.access }),
      401,
      'token_revoked',
    );
  });
});
