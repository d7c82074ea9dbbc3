// The state store failing under a running gateway (on_state_error: deny), through a TCP proxy in front
// of a real redis-server: replies delayed 2 s, errors (ACL denies the scripts), the server killed, then
// restarted empty. Authentication, revocation and lockout fail closed and fast, nothing protected is
// forwarded, public routes keep working, and everything recovers without a restart.
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newUser, type Reply } from '../integration/accounts/support.js';
import { type RedisServer, redisCli, startRedis } from '../support/redis.js';
import { timed } from '../support/timed.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import { PASSWORD, type RecordingUpstream, since, sleep, startGateway, type TestGateway } from './support.js';

/** Forwards to redis; every reply chunk is held `delayMs` (order kept) before it reaches the client. */
interface DelayProxy {
  readonly port: number;
  delayMs: number;
  close(): Promise<void>;
}

async function startDelayProxy(target: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const proxy: { delayMs: number } = { delayMs: 0 };
  const server: Server = createServer((client) => {
    const redis = tcpConnect({ port: target, host: '127.0.0.1' });
    sockets.add(client).add(redis);
    let releaseAt = 0;
    client.on('data', (c) => redis.write(c));
    redis.on('data', (c) => {
      releaseAt = Math.max(Date.now() + proxy.delayMs, releaseAt);
      const wait = releaseAt - Date.now();
      if (wait <= 0) client.write(c);
      else setTimeout(() => client.writable && client.write(c), wait);
    });
    const end = (): void => {
      client.destroy();
      redis.destroy();
    };
    for (const s of [client, redis]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return Object.assign(proxy, {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  });
}

let redis: RedisServer;
let proxy: DelayProxy;
let up: RecordingUpstream;
let gw: TestGateway;
let email: string;
let access: string;
let refresh: string;

async function readyz(): Promise<number> {
  const res = await fetch(`${gw.adminUrl}/readyz`);
  await res.arrayBuffer();
  return res.status;
}

async function waitReady(ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await readyz()) !== 200) {
    if (Date.now() > deadline) throw new Error('gateway did not become ready');
    await sleep(100);
  }
}

async function loginPair(): Promise<void> {
  const res = await call(gw, 'POST', '/api/auth/login', { json: { email, password: PASSWORD } });
  expect(res.status, res.text).toBe(200);
  access = String(res.body!.data!.access);
  refresh = String(res.body!.data!.refresh);
}

/** Every account-protecting call fails closed (503 state_unavailable) within `boundMs`; public works. */
async function expectFailClosed(label: string, boundMs: number): Promise<void> {
  const mark = up.requests.length;
  const checks: Array<[string, () => Promise<Reply>]> = [
    ['authenticated request', () => call(gw, 'GET', `/secure/${label}`, { token: access })],
    [
      'login (right password)',
      () => call(gw, 'POST', '/api/auth/login', { json: { email, password: PASSWORD } }),
    ],
    [
      'login (wrong password)',
      () => call(gw, 'POST', '/api/auth/login', { json: { email, password: 'wrong-pass-1' } }),
    ],
    ['refresh', () => call(gw, 'POST', '/api/auth/refresh', { json: { refresh } })],
    ['logout', () => call(gw, 'POST', '/api/auth/logout', { token: access })],
    ['profile', () => call(gw, 'GET', '/api/users/me', { token: access })],
  ];
  for (const [what, run] of checks) {
    const { value: reply, ms } = await timed(run);
    expect({ what, status: reply.status, code: reply.body?.code }).toEqual({
      what,
      status: 503,
      code: 'state_unavailable',
    });
    expect(ms, what).toBeLessThan(boundMs);
  }
  const pub = await timed(() => call(gw, 'GET', `/pub/${label}`));
  expect(pub.value.status).toBe(200);
  expect(pub.ms).toBeLessThan(boundMs);
  expect(since(up, mark).map((r) => r.url)).toEqual([`/pub/${label}`]);
  expect(await readyz()).toBe(503);
}

async function expectRecovered(label: string): Promise<void> {
  await waitReady();
  const res = await call(gw, 'GET', `/secure/${label}`, { token: access });
  expect(res.status).toBe(200);
}

describe('state store faults (on_state_error: deny)', () => {
  beforeAll(async () => {
    [redis, up] = await Promise.all([startRedis(), startRecordingUpstream()]);
    proxy = await startDelayProxy(redis.port);
    gw = await startGateway(
      `routes:
  - { name: secure, path: /secure, upstream: "${up.origin}", auth: required }
  - { name: pub, path: /pub, upstream: "${up.origin}", auth: public }`,
      { base: { state: `redis://127.0.0.1:${proxy.port}/0` } },
    );
    const user = newUser();
    email = user.email;
    expect((await call(gw, 'POST', '/api/auth/register', { json: user })).status).toBe(201);
    await loginPair();
    expect((await call(gw, 'GET', '/secure/before', { token: access })).status).toBe(200);
  });

  afterAll(async () => {
    await gw?.stop();
    await proxy?.close();
    await Promise.all([redis?.stop(), up?.close()]);
  });

  it('slow: replies held 2 s → every account check is 503 within 1.6 s, never hangs, never forwarded', async () => {
    proxy.delayMs = 2_000;
    try {
      await expectFailClosed('slow', 1_600);
    } finally {
      proxy.delayMs = 0;
    }
  });

  it('slow: recovers without a restart once replies are prompt again', async () => {
    await expectRecovered('after-slow');
  });

  it('errors: the scripts refused (ACL) → 503 fail closed, public still served', async () => {
    await redisCli(redis.port, 'ACL', 'SETUSER', 'default', '-evalsha', '-eval', '-script', '-fcall');
    try {
      const mark = up.requests.length;
      const res = await call(gw, 'GET', '/secure/acl', { token: access });
      expect({ status: res.status, code: res.body?.code }).toEqual({
        status: 503,
        code: 'state_unavailable',
      });
      const wrong = await call(gw, 'POST', '/api/auth/login', { json: { email, password: 'wrong-pass-2' } });
      expect({ status: wrong.status, code: wrong.body?.code }).toEqual({
        status: 503,
        code: 'state_unavailable',
      });
      expect((await call(gw, 'GET', '/pub/acl')).status).toBe(200);
      expect(since(up, mark).map((r) => r.url)).toEqual(['/pub/acl']);
    } finally {
      await redisCli(redis.port, 'ACL', 'SETUSER', 'default', '+@all');
    }
    await expectRecovered('after-acl');
  });

  it('down: killed → fail closed fast; registration (user store only) keeps working', async () => {
    await redis.kill();
    await expectFailClosed('down', 1_600);
    const res = await call(gw, 'POST', '/api/auth/register', { json: newUser() });
    expect(res.status).toBe(201);
  });

  it('restarted empty: the old token is token_revoked (no session comes back), a new login works', async () => {
    await redis.restart();
    await waitReady();
    const old = await call(gw, 'GET', '/secure/old', { token: access });
    expect({ status: old.status, code: old.body?.code }).toEqual({ status: 401, code: 'token_revoked' });
    const oldRefresh = await call(gw, 'POST', '/api/auth/refresh', { json: { refresh } });
    expect(oldRefresh.status).toBe(401);
    await loginPair();
    expect((await call(gw, 'GET', '/secure/new', { token: access })).status).toBe(200);
  });
});
