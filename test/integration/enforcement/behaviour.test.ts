// DESIGN.md's behaviour table, row by row, end to end: a real gateway on a real Redis in front of a
// recording upstream, clients connecting from real loopback addresses. One Redis database per config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../../gateway/state/redis-codec.js';
import type { TestGateway } from '../../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  db,
  expectFailure,
  type GatewayOptions,
  intHeader,
  loginFrom,
  loginOk,
  newUser,
  OTHER_UA,
  operations,
  PASSWORD,
  type Reply,
  registerOk,
  routesYaml,
  send,
  sleep,
  startRedisGateway,
  UA,
  WRONG,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let gw: TestGateway;
const started: TestGateway[] = [];

async function gateway(dbIndex: number, options: Omit<GatewayOptions, 'redis' | 'db'>): Promise<TestGateway> {
  const g = await startRedisGateway({
    redis: redis.url,
    db: dbIndex,
    yaml: routesYaml(upstream.origin),
    ...options,
  });
  started.push(g);
  return g;
}

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  gw = await gateway(0, {});
});

afterAll(async () => {
  await Promise.all(started.map((g) => g.stop()));
  await Promise.all([redis?.stop(), upstream?.close()]);
});

const forwarded = (path: string): number => upstream.requests.filter((r) => r.url.startsWith(path)).length;

function payload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('email is the login', () => {
  it('login by email in any case; a second account differing only in case is 409 email_taken', async () => {
    const user = newUser({ email: `Mixed.Case.${process.pid}@Example.COM` });
    expect((await send(gw, 'POST', '/api/auth/register', { json: user })).status).toBe(201);
    await loginOk(gw, user.email.toLowerCase());
    await loginOk(gw, user.email.toUpperCase());
    const again = await send(gw, 'POST', '/api/auth/register', {
      json: { ...user, email: user.email.toLowerCase() },
    });
    expectFailure(again, 409, 'email_taken');
  });

  it('there is no username: a login or registration without an email is 400 validation_failed', async () => {
    const { email: _email, ...rest } = newUser();
    expectFailure(
      await send(gw, 'POST', '/api/auth/register', { json: { ...rest, username: 'ada' } }),
      400,
      'validation_failed',
    );
    expectFailure(
      await send(gw, 'POST', '/api/auth/login', { json: { username: 'ada', password: PASSWORD } }),
      400,
      'validation_failed',
    );
  });
});

describe('user records', () => {
  it('ids are random 32-hex strings, never sequential', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await registerOk(gw)).id);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(3);
    // Consecutive registrations share no long prefix (a counter or a time-ordered id would).
    expect(ids[0]!.slice(0, 8)).not.toBe(ids[1]!.slice(0, 8));
    expect(ids[1]!.slice(0, 8)).not.toBe(ids[2]!.slice(0, 8));
  });

  it('first_name, last_name, created_at, updated_at; a soft-deleted user cannot log in or be re-registered', async () => {
    const user = newUser({ first_name: 'Grace', last_name: 'Hopper' });
    const reg = await send(gw, 'POST', '/api/auth/register', { json: user });
    const id = reg.body!.data!.id as string;
    const s = await loginOk(gw, user.email);
    const profile = await send(gw, 'GET', '/api/users/me', { token: s.access });
    expect(Object.keys(profile.body!.data!).sort()).toEqual(
      ['date_joined', 'email', 'first_name', 'id', 'last_name', 'roles'].sort(),
    );
    expect(profile.body!.data).toMatchObject({ id, first_name: 'Grace', last_name: 'Hopper' });
    const row = db(gw, 'SELECT created_at, updated_at, is_deleted FROM users WHERE id = ?', id)[0]!;
    expect(row).toMatchObject({ is_deleted: 0 });
    expect(Number(row.updated_at)).toBeGreaterThanOrEqual(Number(row.created_at));

    await gw.services.users.softDelete(id);
    expect(db(gw, 'SELECT is_deleted FROM users WHERE id = ?', id)[0]).toEqual({ is_deleted: 1 });
    expectFailure(await loginFrom(gw, user.email, user.password), 401, 'invalid_credentials');
    expectFailure(await send(gw, 'POST', '/api/auth/register', { json: user }), 409, 'email_taken');
  });

  it('passwords are stored as Argon2id hashes, never in clear', async () => {
    const { id } = await registerOk(gw);
    const hash = String(db(gw, 'SELECT password_hash FROM users WHERE id = ?', id)[0]!.password_hash);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(hash).not.toContain(PASSWORD);
  });

  it.each([
    ['shorter than 12', 'Sh0rt-pass'],
    ['a common password', 'password1234'],
    ['all numeric', '918273645501928'],
    ['similar to the email', 'policy.probe@example.com'],
  ])('password policy: %s is 400 validation_failed', async (_case, password) => {
    const user = newUser({ email: 'policy.probe@example.com', password });
    expectFailure(await send(gw, 'POST', '/api/auth/register', { json: user }), 400, 'validation_failed');
  });
});

describe('tokens and device binding', () => {
  it('the access token is a JWT with a jti, bound to the User-Agent that logged in', async () => {
    const { id, email } = await registerOk(gw);
    const s = await loginOk(gw, email);
    const claims = payload(s.access);
    expect(claims).toMatchObject({ sub: id, jti: expect.any(String), sid: expect.any(String) });
    expect(claims.dev).toEqual(expect.any(String));
    const other = payload((await loginOk(gw, email, PASSWORD, { ua: OTHER_UA })).access);
    expect(other.dev).not.toBe(claims.dev);
    expect(other.jti).not.toBe(claims.jti);
  });

  it('a token used from another User-Agent is 401 device_mismatch, revoked at once, never forwarded', async () => {
    const { email } = await registerOk(gw);
    const s = await loginOk(gw, email);
    const before = forwarded('/api/orders/dm');
    const stolen = await send(gw, 'GET', '/api/orders/dm', { token: s.access, ua: OTHER_UA });
    expectFailure(stolen, 401, 'device_mismatch');
    expect(stolen.body!.message).toBe('Token was issued for a different device/browser');
    expect(stolen.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    // The owner's next request finds the session gone.
    expectFailure(await send(gw, 'GET', '/api/orders/dm', { token: s.access, ua: UA }), 401, 'token_revoked');
    expect((await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh } })).status).toBe(401);
    expect(forwarded('/api/orders/dm')).toBe(before);
  });

  it('logout revokes the session: its access and refresh tokens are refused at once', async () => {
    const { email } = await registerOk(gw);
    const s = await loginOk(gw, email);
    expect((await send(gw, 'GET', '/api/orders/lo', { token: s.access })).status).toBe(200);
    const out = await send(gw, 'POST', '/api/auth/logout', { token: s.access });
    expect({ status: out.status, envelope: out.body?.status }).toEqual({ status: 200, envelope: 'success' });
    expectFailure(await send(gw, 'GET', '/api/orders/lo', { token: s.access }), 401, 'token_revoked');
    expectFailure(await send(gw, 'GET', '/api/users/me', { token: s.access }), 401, 'token_revoked');
    expectFailure(await send(gw, 'POST', '/api/auth/logout', { token: s.access }), 401, 'token_revoked');
    expect((await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh } })).status).toBe(401);
    expect(forwarded('/api/orders/lo')).toBe(1);
  });

  it('admin revocation (operations.revokeSessions) makes every token of the user 401 token_revoked', async () => {
    const { id, email } = await registerOk(gw);
    const s = await loginOk(gw, email);
    expect(await operations(gw).revokeSessions(id, { name: 'test', ip: null })).toHaveLength(1);
    expectFailure(await send(gw, 'GET', '/api/orders/ar', { token: s.access }), 401, 'token_revoked');
    expect((await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh } })).status).toBe(401);
  });

  it('single active session: a new login makes the previous token 401 session_replaced', async () => {
    const { email } = await registerOk(gw);
    const first = await loginOk(gw, email);
    const second = await loginOk(gw, email);
    expectFailure(await send(gw, 'GET', '/api/orders/ss', { token: first.access }), 401, 'session_replaced');
    expectFailure(await send(gw, 'GET', '/api/users/me', { token: first.access }), 401, 'session_replaced');
    expect((await send(gw, 'GET', '/api/orders/ss', { token: second.access })).status).toBe(200);
    expect(forwarded('/api/orders/ss')).toBe(1);
  });
});

describe('brute force: 5 failures lock, cool-off, reset on success', () => {
  it('the 5th failure is 401, the 6th attempt 429 account_locked even with the right password; open again after the cool-off', async () => {
    const g = await gateway(1, { bruteForce: 'failure_limit: 5, cooloff: 2s' });
    const { email } = await registerOk(g);
    for (let i = 0; i < 5; i++) expectFailure(await loginFrom(g, email, WRONG), 401, 'invalid_credentials');
    const locked = await loginFrom(g, email, PASSWORD);
    expectFailure(locked, 429, 'account_locked');
    const wait = intHeader(locked, 'retry-after');
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(2);
    await sleep(wait * 1000 + 300);
    await loginOk(g, email);
  });

  it('a success resets the counter: 4 failures, success, 4 failures, success', async () => {
    const g = await gateway(2, { bruteForce: 'failure_limit: 5' });
    const { email } = await registerOk(g);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 4; i++) expectFailure(await loginFrom(g, email, WRONG), 401, 'invalid_credentials');
      await loginOk(g, email);
    }
  });
});

describe('global rate limit: per IP when anonymous, per user when authenticated', () => {
  it('anonymous: 5/m per client IP; another IP is unaffected; X-Forwarded-For from an untrusted peer changes nothing', async () => {
    const g = await gateway(3, { limits: { anonymous: '5/m', authenticated: '5/m' } });
    // The gateway's own endpoints count too: a failed login and a JWKS fetch use two of the five.
    expectFailure(
      await loginFrom(g, 'nobody@example.com', WRONG, { from: '127.0.0.21' }),
      401,
      'invalid_credentials',
    );
    expect((await send(g, 'GET', '/.well-known/jwks.json', { from: '127.0.0.21' })).status).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await send(g, 'GET', '/public', { from: '127.0.0.21' })).status).toBe(200);
    const refused = await send(g, 'GET', '/public', { from: '127.0.0.21' });
    expectFailure(refused, 429, 'rate_limited');
    expect(intHeader(refused, 'retry-after')).toBeGreaterThanOrEqual(1);
    const spoofed = await send(g, 'GET', '/public', {
      from: '127.0.0.21',
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expectFailure(spoofed, 429, 'rate_limited');
    expect((await send(g, 'GET', '/public', { from: '127.0.0.22' })).status).toBe(200);
  });

  it("authenticated: 5/m per user whatever the IP, own endpoints included; the IP's anonymous budget and other users are unaffected", async () => {
    const g = await gateway(4, { limits: { anonymous: '5/m', authenticated: '5/m' } });
    const a = await registerOk(g, '127.0.0.23');
    const b = await registerOk(g, '127.0.0.23');
    const sa = await loginOk(g, a.email, PASSWORD, { from: '127.0.0.26' });
    const sb = await loginOk(g, b.email, PASSWORD, { from: '127.0.0.26' });
    const ips = ['127.0.0.24', '127.0.0.25', '127.0.0.24', '127.0.0.25'];
    for (const from of ips)
      expect((await send(g, 'GET', '/api/orders', { token: sa.access, from })).status).toBe(200);
    expect((await send(g, 'GET', '/api/users/me', { token: sa.access, from: '127.0.0.27' })).status).toBe(
      200,
    );
    const refused = await send(g, 'GET', '/api/orders', { token: sa.access, from: '127.0.0.28' });
    expectFailure(refused, 429, 'rate_limited');
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await send(g, 'GET', '/api/orders', { token: sb.access, from: '127.0.0.24' })).status).toBe(200);
    expect((await send(g, 'GET', '/public', { from: '127.0.0.24' })).status).toBe(200);
  });
});

describe('login and register limits per email and per IP', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await gateway(5, {
      limits: { loginEmail: '3/m', loginIp: '4/m', registerEmail: '2/m', registerIp: '3/m' },
    });
  });

  it('login per email: the 4th attempt on one email is 429 rate_limited even from a new IP with the right password', async () => {
    const { email } = await registerOk(g, '127.0.0.31');
    for (const from of ['127.0.0.32', '127.0.0.33', '127.0.0.34'])
      expectFailure(await loginFrom(g, email, WRONG, { from }), 401, 'invalid_credentials');
    const refused = await loginFrom(g, email, PASSWORD, { from: '127.0.0.35' });
    expectFailure(refused, 429, 'rate_limited');
    expect(intHeader(refused, 'retry-after')).toBeGreaterThanOrEqual(1);
    expect(intHeader(refused, 'ratelimit-limit')).toBe(3);
    expect(intHeader(refused, 'ratelimit-remaining')).toBe(0);
  });

  it('login per IP: the 5th attempt from one IP is 429 rate_limited whatever the email', async () => {
    for (let i = 0; i < 4; i++)
      expectFailure(
        await loginFrom(g, `nobody${i}@example.com`, WRONG, { from: '127.0.0.36' }),
        401,
        'invalid_credentials',
      );
    const { email } = await registerOk(g, '127.0.0.37');
    const refused = await loginFrom(g, email, PASSWORD, { from: '127.0.0.36' });
    expectFailure(refused, 429, 'rate_limited');
    expect(intHeader(refused, 'ratelimit-limit')).toBe(4);
    await loginOk(g, email, PASSWORD, { from: '127.0.0.38' });
  });

  it('register per email (canonical): the 3rd attempt on one address is 429 rate_limited', async () => {
    const user = newUser();
    expect((await send(g, 'POST', '/api/auth/register', { json: user, from: '127.0.0.39' })).status).toBe(
      201,
    );
    const upper = { ...user, email: user.email.toUpperCase() };
    expectFailure(
      await send(g, 'POST', '/api/auth/register', { json: upper, from: '127.0.0.40' }),
      409,
      'email_taken',
    );
    expectFailure(
      await send(g, 'POST', '/api/auth/register', { json: user, from: '127.0.0.41' }),
      429,
      'rate_limited',
    );
  });

  it('locked attempts count against the login limit too (login order: limits, then lock, then password)', async () => {
    const locking = await gateway(6, { limits: { loginEmail: '4/m' }, bruteForce: 'failure_limit: 2' });
    const { email } = await registerOk(locking);
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(locking, email, WRONG), 401, 'invalid_credentials');
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(locking, email, PASSWORD), 429, 'account_locked');
    expectFailure(await loginFrom(locking, email, PASSWORD), 429, 'rate_limited');
  });

  it('register per IP: the 4th registration from one IP is 429 rate_limited', async () => {
    for (let i = 0; i < 3; i++) await registerOk(g, '127.0.0.42');
    const refused = await send(g, 'POST', '/api/auth/register', { json: newUser(), from: '127.0.0.42' });
    expectFailure(refused, 429, 'rate_limited');
    expect(refused.headers['retry-after']).toBeDefined();
    await registerOk(g, '127.0.0.43');
  });
});

describe('one response envelope everywhere', () => {
  let token: string;
  beforeAll(async () => {
    const { email } = await registerOk(gw);
    token = (await loginOk(gw, email)).access;
  });

  const cases: Array<[string, () => Promise<Reply>, number, string]> = [
    ['unknown path', () => send(gw, 'GET', '/nowhere'), 404, 'route_not_found'],
    ['no token', () => send(gw, 'GET', '/api/orders'), 401, 'missing_token'],
    ['garbage token', () => send(gw, 'GET', '/api/orders', { token: 'a.b.c' }), 401, 'invalid_token'],
    [
      'garbage token on a public route',
      () => send(gw, 'GET', '/public', { token: 'a.b.c' }),
      401,
      'invalid_token',
    ],
    ['dot segment', () => send(gw, 'GET', '/public/../api/orders'), 400, 'bad_path'],
    ['wrong role', () => send(gw, 'GET', '/api/admin', { token }), 403, 'forbidden'],
    ['wrong method', () => send(gw, 'DELETE', '/api/auth/login'), 405, 'method_not_allowed'],
    [
      'not JSON',
      () =>
        send(gw, 'POST', '/api/auth/login', {
          headers: { 'content-type': 'text/plain', 'content-length': '1' },
        }),
      415,
      'unsupported_media_type',
    ],
    [
      'bad credentials',
      () => send(gw, 'POST', '/api/auth/login', { json: { email: 'no@example.com', password: WRONG } }),
      401,
      'invalid_credentials',
    ],
  ];

  it.each(cases)('%s: the failure envelope with status and code', async (_name, run, status, code) => {
    const reply = await run();
    expectFailure(reply, status, code);
    expect(String(reply.headers['content-type'])).toMatch(/^application\/json/);
    expect(Object.keys(reply.body!).sort()).toEqual(['code', 'message', 'status']);
    expect(reply.body!.message).toEqual(expect.any(String));
  });

  it('successes of the own endpoints carry {status: success, message, data}', async () => {
    const user = newUser();
    const replies = [await send(gw, 'POST', '/api/auth/register', { json: user })];
    replies.push(await loginFrom(gw, user.email, user.password));
    const s = replies[1]!.body!.data as { access: string; refresh: string };
    replies.push(await send(gw, 'GET', '/api/users/me', { token: s.access }));
    const refreshed = await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh } });
    replies.push(refreshed);
    const access = (refreshed.body!.data as { access: string }).access;
    for (const r of replies) {
      expect(r.body).toEqual({ status: 'success', message: expect.any(String), data: expect.any(Object) });
    }
    const out = await send(gw, 'POST', '/api/auth/logout', { token: access });
    expect(out.body).toMatchObject({ status: 'success', message: expect.any(String) });
    expect(
      Object.keys(out.body!)
        .filter((k) => k !== 'data')
        .sort(),
    ).toEqual(['message', 'status']);
  });
});

describe('profile cache', () => {
  it('cached for profile_cache_ttl in Redis; dropped when roles change or the user is disabled', async () => {
    const { id, email } = await registerOk(gw);
    const s = await loginOk(gw, email);
    const first = await send(gw, 'GET', '/api/users/me', { token: s.access });
    expect(first.body!.data).toMatchObject({ id, roles: ['user'], first_name: 'Ada' });
    const ttl = Number(await redisCli(redis.port, '-n', '0', 'PTTL', redisKeys.profile(id)));
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);

    // A change behind the gateway's back is not seen: the answer comes from the cache.
    db(gw, "UPDATE users SET first_name = 'Changed' WHERE id = ?", id);
    const cached = await send(gw, 'GET', '/api/users/me', { token: s.access });
    expect(cached.body!.data).toMatchObject({ first_name: 'Ada' });

    // An operator change drops the cached copy: the next /me shows it (and the DB change too).
    await operations(gw).setRoles(id, ['user', 'admin'], { name: 'test', ip: null });
    const changed = await send(gw, 'GET', '/api/users/me', { token: s.access });
    expect(changed.body!.data).toMatchObject({ roles: ['user', 'admin'], first_name: 'Changed' });
    expect((await send(gw, 'GET', '/api/admin', { token: s.access })).status).toBe(200);

    await operations(gw).setActive(id, false, { name: 'test', ip: null });
    expect(await redisCli(redis.port, '-n', '0', 'EXISTS', redisKeys.profile(id))).toBe('0\n');
    expectFailure(await send(gw, 'GET', '/api/users/me', { token: s.access }), 401, 'token_revoked');
  });
});

describe('login records', () => {
  it('each login, failed or not, records IP, User-Agent and time', async () => {
    const { id, email } = await registerOk(gw);
    const t0 = Date.now();
    expectFailure(
      await loginFrom(gw, email, WRONG, { from: '127.0.0.51', ua: 'probe-agent/1' }),
      401,
      'invalid_credentials',
    );
    await loginOk(gw, email, PASSWORD, { from: '127.0.0.52', ua: 'owner-agent/2' });
    const rows = db(
      gw,
      'SELECT user_id, ip, user_agent, success, at FROM login_records WHERE email = ? ORDER BY id',
      email,
    );
    expect(rows.map(({ at: _at, ...r }) => r)).toEqual([
      { user_id: id, ip: '127.0.0.51', user_agent: 'probe-agent/1', success: 0 },
      { user_id: id, ip: '127.0.0.52', user_agent: 'owner-agent/2', success: 1 },
    ]);
    for (const r of rows) {
      expect(Number(r.at)).toBeGreaterThanOrEqual(t0 - 1000);
      expect(Number(r.at)).toBeLessThanOrEqual(Date.now() + 1000);
    }
  });
});
