// Every security decision leaves an audit event in the user store's hash chain: a scripted sequence of
// logins, a lockout, a stolen token, an eviction, a logout, a rate limit and an unlock, then the chain is verified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  db,
  expectFailure,
  loginFrom,
  loginOk,
  OTHER_UA,
  operations,
  PASSWORD,
  registerOk,
  routesYaml,
  send,
  startRedisGateway,
  WRONG,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  const extra = `  - { name: limited, path: /limited, upstream: "${upstream.origin}", auth: required, rate_limit: 2/m }`;
  gw = await startRedisGateway({
    redis: redis.url,
    db: 0,
    yaml: routesYaml(upstream.origin, extra),
    bruteForce: 'failure_limit: 2',
  });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([redis?.stop(), upstream?.close()]);
});

interface Event {
  type: string;
  user_id: string | null;
  ip: string | null;
  actor: string | null;
  details: Record<string, unknown>;
}

function events(userId: string): Event[] {
  return db(
    gw,
    'SELECT type, user_id, ip, actor, details FROM audit_events WHERE user_id = ? ORDER BY id',
    userId,
  ).map((r) => ({
    type: String(r.type),
    user_id: r.user_id as string | null,
    ip: r.ip as string | null,
    actor: r.actor as string | null,
    details: JSON.parse(String(r.details)) as Record<string, unknown>,
  }));
}

describe('audit events', () => {
  it('a scripted sequence leaves one event per security decision, in order, and the chain verifies', async () => {
    const { id, email } = await registerOk(gw, '127.0.0.101');
    const first = await loginOk(gw, email, PASSWORD, { from: '127.0.0.102' });

    // Lockout of (email, 127.0.0.103): two failures, the second locks; the third attempt is refused.
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(gw, email, WRONG, { from: '127.0.0.103' }), 401, 'invalid_credentials');
    expectFailure(await loginFrom(gw, email, PASSWORD, { from: '127.0.0.103' }), 429, 'account_locked');

    // The first session's token used from another browser: revoked.
    expectFailure(
      await send(gw, 'GET', '/api/orders', { token: first.access, ua: OTHER_UA, from: '127.0.0.104' }),
      401,
      'device_mismatch',
    );

    // A second login, then a third that evicts it.
    const second = await loginOk(gw, email, PASSWORD, { from: '127.0.0.102' });
    const third = await loginOk(gw, email, PASSWORD, { from: '127.0.0.102' });
    expectFailure(await send(gw, 'GET', '/api/orders', { token: second.access }), 401, 'session_replaced');

    // Rate limit: the third request in the minute is refused, the fourth adds no second event.
    for (let i = 0; i < 2; i++)
      expect((await send(gw, 'GET', '/limited', { token: third.access })).status).toBe(200);
    for (let i = 0; i < 2; i++)
      expectFailure(await send(gw, 'GET', '/limited', { token: third.access }), 429, 'rate_limited');

    expect(
      (await send(gw, 'POST', '/api/auth/logout', { token: third.access, from: '127.0.0.105' })).status,
    ).toBe(200);
    await operations(gw).unlock(id, { name: 'admin-test', ip: null });
    await gw.services.audit.flush();

    const log = events(id);
    expect(log.map((e) => e.type)).toEqual([
      'register',
      'login_success',
      'login_failure',
      'login_failure',
      'lockout',
      'device_mismatch',
      'login_success',
      'session_replaced',
      'login_success',
      'rate_limited',
      'logout',
      'unlock',
    ]);
    const byType = (t: string): Event => log.find((e) => e.type === t)!;
    expect(byType('login_failure')).toMatchObject({ ip: '127.0.0.103', details: { reason: 'bad_password' } });
    expect(byType('lockout').ip).toBe('127.0.0.103');
    expect(byType('device_mismatch')).toMatchObject({ ip: '127.0.0.104', details: { action: 'revoke' } });
    expect(byType('logout').ip).toBe('127.0.0.105');
    expect(byType('rate_limited').details).toMatchObject({ scope: 'route:limited' });
    expect(byType('unlock').actor).toBe('admin-test');
    // Nothing secret in the events: no token, no password.
    const raw = JSON.stringify(log);
    for (const secret of [first.access, second.access, third.access, first.refresh, PASSWORD, WRONG])
      expect(raw).not.toContain(secret);

    expect(await gw.services.users.verifyAudit()).toMatchObject({ ok: true });
  });

  it('verifyAudit notices an edited event', async () => {
    const { id } = await registerOk(gw, '127.0.0.106');
    await gw.services.audit.flush();
    expect(await gw.services.users.verifyAudit()).toMatchObject({ ok: true });
    db(gw, "UPDATE audit_events SET ip = '10.9.9.9' WHERE user_id = ? AND type = 'register'", id);
    expect(await gw.services.users.verifyAudit()).toMatchObject({ ok: false });
  });
});
