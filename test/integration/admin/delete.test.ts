// DELETE /api/users/:id against a real gateway: the soft delete ends every session (token_revoked on the
// main listener), login answers as for a wrong password, one user_deleted event, a repeat changes
// nothing, what a deleted account still takes, what stays, logins in flight, and a state store outage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import {
  call,
  expectFailure,
  login,
  me,
  newUser,
  OTHER_UA,
  PASSWORD,
  type Pair,
  refresh,
  register,
  registerAndLogin,
  UA,
} from '../accounts/support.js';
import { type AdminFixture, admin, adminOk, startAdminFixture } from './support.js';

/** Open limits, and room for two sessions per user. */
let fx: AdminFixture;
beforeAll(async () => {
  fx = await startAdminFixture({ yaml: 'sessions: { max_active: 3 }' });
});
afterAll(() => fx.close());

const app = (token: string, ua = UA) => call(fx.gw, 'GET', '/app/x', { token, ua });

interface Event {
  readonly type: string;
  readonly actor: string | null;
  readonly user_id: string | null;
  readonly details: Record<string, unknown>;
}

async function eventsOf(id: string, type?: string): Promise<Event[]> {
  await fx.gw.services.audit.flush();
  const q = type === undefined ? `user=${id}` : `user=${id}&type=${type}`;
  return (await adminOk(fx.gw, 'GET', `/api/audit?${q}&limit=500`)).events as Event[];
}

describe('DELETE /api/users/:id', () => {
  it('ends every session at once: each token is 401 token_revoked, refresh too', async () => {
    const { id, user, pair } = await registerAndLogin(fx.gw);
    const second = await login(fx.gw, user.email, user.password, { ua: OTHER_UA });
    const other = second.body!.data as unknown as Pair;
    expect((await app(pair.access)).status).toBe(200);
    expect((await me(fx.gw, pair.access)).status).toBe(200);

    const res = await admin(fx.gw, 'DELETE', `/api/users/${id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body!.data!.user).toMatchObject({ id, is_deleted: true });
    expect(res.body!.data!.sessions).toEqual([]);

    expectFailure(await app(pair.access), 401, 'token_revoked');
    expectFailure(await app(other.access, OTHER_UA), 401, 'token_revoked');
    expectFailure(await me(fx.gw, pair.access), 401, 'token_revoked');
    expectFailure(await refresh(fx.gw, other.refresh, OTHER_UA), 401, 'token_revoked');
  });

  it('SECURITY: login with the right password then answers exactly as a wrong one (401 invalid_credentials)', async () => {
    const { id, user } = await registerAndLogin(fx.gw);
    await adminOk(fx.gw, 'DELETE', `/api/users/${id}`);
    const right = await login(fx.gw, user.email, user.password);
    const wrong = await login(fx.gw, user.email, `${PASSWORD}-wrong`);
    expectFailure(right, 401, 'invalid_credentials');
    expect(right.body).toEqual(wrong.body);
    expect(right.headers['www-authenticate']).toBeUndefined();
  });

  it('writes one user_deleted event naming the admin; a repeated DELETE answers 200, writes none', async () => {
    const { id } = await registerAndLogin(fx.gw);
    const [sid] = (
      (await adminOk(fx.gw, 'GET', `/api/users/${id}/sessions`)).sessions as Array<{
        sid: string;
      }>
    ).map((s) => s.sid);
    const first = await adminOk(fx.gw, 'DELETE', `/api/users/${id}`);
    const again = await admin(fx.gw, 'DELETE', `/api/users/${id}`);
    expect(again.status, again.text).toBe(200);
    expect(again.body!.data!.user).toEqual(first.user);
    expect(again.body!.message).not.toBe((await admin(fx.gw, 'GET', `/api/users/${id}`)).body!.message);

    const deleted = await eventsOf(id, 'user_deleted');
    expect(deleted).toHaveLength(1);
    expect(deleted[0]).toMatchObject({ actor: 'admin', user_id: id, details: { sessions: [sid] } });
    expect((await adminOk(fx.gw, 'GET', '/api/audit/types')).types).toContain('user_deleted');
  });

  it('keeps the row, the login records and the audit events; the email stays taken (409)', async () => {
    const { id, user } = await registerAndLogin(fx.gw);
    await login(fx.gw, user.email, `${PASSWORD}-wrong`);
    await adminOk(fx.gw, 'DELETE', `/api/users/${id}`);
    await login(fx.gw, user.email, user.password);

    const detail = await adminOk(fx.gw, 'GET', `/api/users/${id}`);
    expect(detail.user).toMatchObject({ id, email: user.email, is_deleted: true });
    const logins = detail.logins as Array<{ success: boolean }>;
    expect(logins.map((l) => l.success)).toEqual([false, false, true]);
    expect((await eventsOf(id)).map((e) => e.type)).toEqual(
      expect.arrayContaining(['register', 'login_success', 'login_failure', 'user_deleted']),
    );
    const search = await adminOk(fx.gw, 'GET', `/api/users?q=${encodeURIComponent(user.email)}`);
    expect(search.users).toEqual([expect.objectContaining({ id, is_deleted: true })]);

    expectFailure(await register(fx.gw, newUser({ email: user.email })), 409, 'email_taken');
    expectFailure(await register(fx.gw, newUser({ email: user.email.toUpperCase() })), 409, 'email_taken');
  });
});

describe('a deleted account', () => {
  let id: string;
  let email: string;
  beforeAll(async () => {
    const made = await registerAndLogin(fx.gw);
    id = made.id;
    email = made.user.email;
    await adminOk(fx.gw, 'DELETE', `/api/users/${id}`);
  });

  it.each([
    ['POST', 'enable', {}],
    ['PUT', 'roles', { json: { roles: ['user', 'admin'] } }],
    ['POST', 'unlock', {}],
  ])('%s %s is 400 validation_failed and changes nothing', async (method, action, options) => {
    const before = await adminOk(fx.gw, 'GET', `/api/users/${id}`);
    const res = await admin(fx.gw, method, `/api/users/${id}/${action}`, options);
    expectFailure(res, 400, 'validation_failed');
    expect(res.body!.message).toMatch(/^user: the account is deleted/);
    expect((await adminOk(fx.gw, 'GET', `/api/users/${id}`)).user).toEqual(before.user);
    expectFailure(await login(fx.gw, email, PASSWORD), 401, 'invalid_credentials');
    const admins = (await eventsOf(id)).filter((e) => e.actor === 'admin').map((e) => e.type);
    expect(admins).toEqual(['user_deleted']);
  });

  it('still takes what only removes access: disable, revoking sessions; login stays refused', async () => {
    expect((await adminOk(fx.gw, 'POST', `/api/users/${id}/disable`)).user).toMatchObject({
      is_active: false,
      is_deleted: true,
    });
    expect((await adminOk(fx.gw, 'DELETE', `/api/users/${id}/sessions`)).revoked).toEqual([]);
    expectFailure(await login(fx.gw, email, PASSWORD), 401, 'invalid_credentials');
  });
});

describe('refusals', () => {
  it('the token gate comes first; a field, a form, broken JSON are refused; nothing is deleted', async () => {
    const { id, pair } = await registerAndLogin(fx.gw);
    const path = `/api/users/${id}`;
    const missing = await admin(fx.gw, 'DELETE', path, { token: null });
    expectFailure(missing, 401, 'missing_token');
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expectFailure(await admin(fx.gw, 'DELETE', path, { token: 'x'.repeat(40) }), 401, 'invalid_token');
    const field = await admin(fx.gw, 'DELETE', path, { json: { hard: true } });
    expectFailure(field, 400, 'validation_failed');
    expect(field.body?.message).toMatch(/^hard: /);
    expectFailure(
      await admin(fx.gw, 'DELETE', path, { body: 'x', headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    expectFailure(
      await admin(fx.gw, 'DELETE', path, { body: '{', headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_json',
    );
    expectFailure(await admin(fx.gw, 'DELETE', `/api/users/${'f'.repeat(32)}`), 404, 'user_not_found');
    expectFailure(await admin(fx.gw, 'DELETE', '/api/users/not-an-id'), 404, 'user_not_found');

    expect((await adminOk(fx.gw, 'GET', path)).user).toMatchObject({ is_deleted: false });
    expect((await app(pair.access)).status).toBe(200);
    expect(await eventsOf(id, 'user_deleted')).toEqual([]);
    // {} is no field: a client that always sends a body can delete.
    expect((await adminOk(fx.gw, 'DELETE', path, { json: {} })).user).toMatchObject({ is_deleted: true });
  });
});

describe('a delete while the state store stalls', () => {
  let redis: RedisServer;
  let shared: AdminFixture;
  beforeAll(async () => {
    redis = await startRedis();
    shared = await startAdminFixture({ base: { state: redis.url } });
  });
  afterAll(async () => {
    await redisCli(redis.port, 'CLIENT', 'UNPAUSE').catch(() => undefined);
    await shared?.close();
    await redis?.stop();
  });

  it('is 503 state_unavailable and changes nothing; once the store answers, the retry deletes', async () => {
    const { id, user, pair } = await registerAndLogin(shared.gw);
    await redisCli(redis.port, 'CLIENT', 'PAUSE', '5000', 'ALL');
    try {
      expectFailure(await admin(shared.gw, 'DELETE', `/api/users/${id}`), 503, 'state_unavailable');
    } finally {
      await redisCli(redis.port, 'CLIENT', 'UNPAUSE');
    }
    expect((await adminOk(shared.gw, 'GET', `/api/users/${id}`)).user).toMatchObject({ is_deleted: false });
    expect((await call(shared.gw, 'GET', '/app/x', { token: pair.access })).status).toBe(200);

    await adminOk(shared.gw, 'DELETE', `/api/users/${id}`);
    expectFailure(await call(shared.gw, 'GET', '/app/x', { token: pair.access }), 401, 'token_revoked');
    expectFailure(await login(shared.gw, user.email, user.password), 401, 'invalid_credentials');
  }, 30_000);
});
