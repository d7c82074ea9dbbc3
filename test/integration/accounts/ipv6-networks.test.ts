// Per-address limits and locks count an IPv6 client by its network (server.ipv6_limit_prefix, default
// /64): one subscriber holds a whole /64, so counting each of its addresses bounded nothing. Client
// addresses come from X-Forwarded-For, believed because the test connects from a trusted proxy. Run on
// memory state and on a real Redis: the limits run on both.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { call, expectFailure, newUser, type Reply, register } from './support.js';

const WRONG = 'definitely-not-the-password';
// Two addresses of one /64, one of the neighbouring /64, and two IPv4 neighbours.
const A1 = '2001:db8:1:2::1';
const A2 = '2001:db8:1:2:ffff:ffff:ffff:fffe';
const B1 = '2001:db8:1:3::1';
const V4 = ['203.0.113.1', '203.0.113.2'] as const;

let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
  // Each test starts from no counts: they would otherwise outlive its gateway in the shared Redis.
  if (redis !== undefined) await redisCli(redis.port, 'FLUSHALL');
});

/** The prefix is `${PREFIX}` from `env`, which the harness expands again on every reload: editing it stands in for editing the file. */
function start(
  state: 'memory' | 'redis',
  yaml: string,
  env: Record<string, string> = { PREFIX: '64' },
): Promise<TestGateway> {
  return startTestGateway(
    `passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }\n${yaml}`,
    {
      env,
      base: {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: config syntax
        server: 'trusted_proxies: [127.0.0.1/32], ipv6_limit_prefix: "${PREFIX}"',
        state: state === 'memory' ? 'memory' : redis!.url,
      },
    },
  );
}

const limits = (login: string, register = '1000/m', global = '100000/h', failures = 1000) => `
rate_limits:
  global: { anonymous: ${global}, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: ${login} }
  register: { per_email: 1000/m, per_ip: ${register} }
brute_force: { failure_limit: ${failures}, account_failure_limit: 1000, cooloff: 1h }`;

function loginFrom(ip: string, email: string, password: string): Promise<Reply> {
  return call(gw!, 'POST', '/api/auth/login', {
    json: { email, password },
    headers: { 'x-forwarded-for': ip },
  });
}

function jwksFrom(ip: string): Promise<Reply> {
  return call(gw!, 'GET', '/.well-known/jwks.json', { headers: { 'x-forwarded-for': ip } });
}

/** A login whose password is checked and wrong (no limit met): 401, not 429. */
const stranger = () => newUser().email;

describe.each(['memory', 'redis'] as const)('IPv6 clients by their /64 (%s state)', (state) => {
  it('SECURITY: two addresses of one /64 share the login per-IP limit; another /64 and IPv4 neighbours do not', async () => {
    gw = await start(state, limits('2/m'));
    for (const ip of [A1, A2])
      expectFailure(await loginFrom(ip, stranger(), WRONG), 401, 'invalid_credentials');
    const refused = await loginFrom(A2, stranger(), WRONG);
    expectFailure(refused, 429, 'rate_limited');
    expect(refused.headers['ratelimit-limit']).toBe('2');
    expectFailure(await loginFrom(B1, stranger(), WRONG), 401, 'invalid_credentials');
    // IPv4 counts each address, as before.
    for (const ip of [V4[0], V4[0]])
      expectFailure(await loginFrom(ip, stranger(), WRONG), 401, 'invalid_credentials');
    expectFailure(await loginFrom(V4[1], stranger(), WRONG), 401, 'invalid_credentials');
  });

  it('SECURITY: the (email, address) lock is per /64: a failure streak from one address locks its neighbours', async () => {
    gw = await start(state, limits('1000/m', '1000/m', '100000/h', 2));
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201);
    expectFailure(await loginFrom(A1, u.email, WRONG), 401, 'invalid_credentials');
    expectFailure(await loginFrom(A2, u.email, WRONG), 401, 'invalid_credentials');
    const locked = await loginFrom('2001:db8:1:2::7', u.email, u.password);
    expectFailure(locked, 429, 'account_locked');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // The owner, from another network, is not locked out by it.
    expect((await loginFrom(B1, u.email, u.password)).status).toBe(200);
  });

  it('SECURITY: the anonymous global limit and the refusals it counts are per /64', async () => {
    gw = await start(state, limits('1000/m', '1000/m', '3/h'));
    expect((await jwksFrom(A1)).status).toBe(200);
    // A forged token is refused and counted against the address's network (createRefusalCount).
    const forged = await call(gw, 'GET', '/api/users/me', {
      token: 'not.a.token',
      headers: { 'x-forwarded-for': A2 },
    });
    expectFailure(forged, 401, 'invalid_token');
    expect(forged.headers['ratelimit-remaining']).toBe('1');
    expect((await jwksFrom('2001:db8:1:2::42')).status).toBe(200);
    expectFailure(await jwksFrom(A1), 429, 'rate_limited');
    expect((await jwksFrom(B1)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await jwksFrom(V4[0])).status).toBe(200);
    expect((await jwksFrom(V4[1])).status).toBe(200);
  });

  it('register per-IP limit is per /64', async () => {
    gw = await start(state, limits('1000/m', '2/m'));
    const from = (ip: string) =>
      call(gw!, 'POST', '/api/auth/register', { json: newUser(), headers: { 'x-forwarded-for': ip } });
    for (const ip of [A1, A2]) expect((await from(ip)).status).toBe(201);
    expectFailure(await from('2001:db8:1:2::9'), 429, 'rate_limited');
    expect((await from(B1)).status).toBe(201);
  });

  it('with ipv6_limit_prefix: 128 each address counts alone (limits and the lock)', async () => {
    gw = await start(state, limits('2/m', '1000/m', '2/h', 2), { PREFIX: '128' });
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201);
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(A1, u.email, WRONG), 401, 'invalid_credentials');
    expect((await loginFrom(A2, u.email, u.password)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await jwksFrom('2001:db8:1:2::50')).status).toBe(200);
    expect((await jwksFrom('2001:db8:1:2::51')).status).toBe(200);
  });
});

describe('ipv6_limit_prefix on reload', () => {
  it('takes effect on reload (no restart needed): counts start afresh under the new keys', async () => {
    const env = { PREFIX: '64' };
    gw = await start('memory', limits('2/m'), env);
    for (const ip of [A1, A2])
      expectFailure(await loginFrom(ip, stranger(), WRONG), 401, 'invalid_credentials');
    expectFailure(await loginFrom(A2, stranger(), WRONG), 429, 'rate_limited');

    env.PREFIX = '128';
    const report = await gw.reload();
    expect(report).toMatchObject({ ok: true });
    expect(report.ok && report.restartRequired).toEqual([]);
    expectFailure(await loginFrom(A2, stranger(), WRONG), 401, 'invalid_credentials');
    expectFailure(await loginFrom('2001:db8:1:2::3', stranger(), WRONG), 401, 'invalid_credentials');
  });
});
