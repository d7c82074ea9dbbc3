// What each admin action does on the main listener: revocation, unlock after a brute-force lock,
// disable/enable, and role changes, each seen on the very next request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectFailure,
  login,
  loginOk,
  newUser,
  OTHER_UA,
  PASSWORD,
  register,
  registerAndLogin,
  UA,
} from '../accounts/support.js';
import { type AdminFixture, admin, adminOk, startAdminFixture, startSlowLoginFixture } from './support.js';

/** Open limits, except a brute-force lock after 3 failures per (email, IP). */
const LIMITS = `rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1000/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { failure_limit: 3, account_failure_limit: 1000, cooloff: 1h }
sessions: { max_active: 3 }`;

let fx: AdminFixture;
beforeAll(async () => {
  fx = await startAdminFixture({ openLimits: false, yaml: LIMITS });
});
afterAll(() => fx.close());

const app = (token: string, ua = UA) => call(fx.gw, 'GET', '/app/x', { token, ua });

describe('sessions', () => {
  it('revoking all sessions: the next proxied request with any of them is 401 token_revoked', async () => {
    const { id, user, pair } = await registerAndLogin(fx.gw);
    const second = await loginOk(fx.gw, user.email, user.password, OTHER_UA);
    expect((await app(pair.access)).status).toBe(200);
    const data = await adminOk(fx.gw, 'DELETE', `/api/users/${id}/sessions`);
    expect(data.revoked).toHaveLength(2);
    expectFailure(await app(pair.access), 401, 'token_revoked');
    expectFailure(await app(second.access, OTHER_UA), 401, 'token_revoked');
    expect((await adminOk(fx.gw, 'GET', `/api/users/${id}/sessions`)).sessions).toEqual([]);
  });

  it('revoking one session ends that one only', async () => {
    const { id, user, pair } = await registerAndLogin(fx.gw);
    const other = await loginOk(fx.gw, user.email, user.password, OTHER_UA);
    const sessions = (await adminOk(fx.gw, 'GET', `/api/users/${id}/sessions`)).sessions as Array<{
      sid: string;
      user_agent: string;
    }>;
    const target = sessions.find((s) => s.user_agent === OTHER_UA)!;
    const data = await adminOk(fx.gw, 'DELETE', `/api/users/${id}/sessions/${target.sid}`);
    expect(data.revoked).toEqual([target.sid]);
    expectFailure(await app(other.access, OTHER_UA), 401, 'token_revoked');
    expect((await app(pair.access)).status).toBe(200);
  });

  it("SECURITY: another user's session id under this user is 404 and that session lives on", async () => {
    const victim = await registerAndLogin(fx.gw);
    const attacker = await registerAndLogin(fx.gw);
    const [session] = (await adminOk(fx.gw, 'GET', `/api/users/${victim.id}/sessions`)).sessions as Array<{
      sid: string;
    }>;
    const res = await admin(fx.gw, 'DELETE', `/api/users/${attacker.id}/sessions/${session!.sid}`);
    expectFailure(res, 404, 'not_found');
    expect((await app(victim.pair.access)).status).toBe(200);
  });
});

describe('lockout', () => {
  it('a brute-force lock makes login 429; unlock clears it and the right password works again', async () => {
    const user = newUser();
    const reg = await register(fx.gw, user);
    const id = reg.body!.data!.id as string;
    for (let i = 0; i < 3; i++)
      expectFailure(await login(fx.gw, user.email, `${PASSWORD}-no`), 401, 'invalid_credentials');
    expectFailure(await login(fx.gw, user.email, PASSWORD), 429, 'account_locked');

    const locked = await adminOk(fx.gw, 'GET', `/api/users/${id}`);
    // Three failed passwords; the attempt the lock refused is not a fourth failure.
    expect(locked.lock).toMatchObject({
      sources: [{ ip: '127.0.0.1', locked: true, failures: 3, limit: 3 }],
    });

    const unlocked = await adminOk(fx.gw, 'POST', `/api/users/${id}/unlock`);
    expect(unlocked.lock).toMatchObject({ account: { locked: false, failures: 0 }, sources: [] });
    expect((await login(fx.gw, user.email, PASSWORD)).status).toBe(200);
  });

  it("attempts the lock refused are in the user's logins: guessing that goes on under a lock shows", async () => {
    const user = newUser();
    const id = (await register(fx.gw, user)).body!.data!.id as string;
    for (let i = 0; i < 3; i++) await login(fx.gw, user.email, `${PASSWORD}-no`);
    for (let i = 0; i < 2; i++)
      expectFailure(await login(fx.gw, user.email, PASSWORD), 429, 'account_locked');
    // The refusal does not wait for its record (it never waits on the user store): poll briefly.
    let reasons: unknown[] = [];
    for (let waited = 0; waited < 2_000 && reasons.length < 5; waited += 50) {
      const detail = await adminOk(fx.gw, 'GET', `/api/users/${id}`);
      reasons = (detail.logins as Array<{ reason: unknown }>).map((l) => l.reason);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(reasons).toEqual(['locked', 'locked', 'bad_password', 'bad_password', 'bad_password']);
  });
});

describe('disable and enable', () => {
  it('disable refuses the token at once and login is 401 invalid_credentials; enable lets login back in', async () => {
    const { id, user, pair } = await registerAndLogin(fx.gw);
    expect((await app(pair.access)).status).toBe(200);
    const data = await adminOk(fx.gw, 'POST', `/api/users/${id}/disable`);
    expect(data.user).toMatchObject({ is_active: false });
    expect(data.sessions).toEqual([]);
    expectFailure(await app(pair.access), 401, 'token_revoked');
    const refused = await login(fx.gw, user.email, user.password);
    expectFailure(refused, 401, 'invalid_credentials');
    expect(refused.headers['www-authenticate']).toBeUndefined();

    expect((await adminOk(fx.gw, 'POST', `/api/users/${id}/enable`)).user).toMatchObject({ is_active: true });
    const again = await loginOk(fx.gw, user.email, user.password);
    expect((await app(again.access)).status).toBe(200);
    // The old token stays dead: enabling does not bring back revoked sessions.
    expectFailure(await app(pair.access), 401, 'token_revoked');
  });
});

describe('roles', () => {
  it("a role change shows in the next request's X-User-Roles and opens a role-gated route", async () => {
    const { id, pair } = await registerAndLogin(fx.gw);
    expectFailure(await call(fx.gw, 'GET', '/boss/x', { token: pair.access }), 403, 'forbidden');
    await app(pair.access);
    expect(fx.upstream.requests.at(-1)!.headers['x-user-roles']).toBe('user');

    const data = await adminOk(fx.gw, 'PUT', `/api/users/${id}/roles`, {
      json: { roles: ['user', 'admin'] },
    });
    expect(data.user).toMatchObject({ roles: ['user', 'admin'] });
    expect((await call(fx.gw, 'GET', '/boss/x', { token: pair.access })).status).toBe(200);
    expect(fx.upstream.requests.at(-1)!.headers['x-user-roles']).toBe('user,admin');

    await adminOk(fx.gw, 'PUT', `/api/users/${id}/roles`, { json: { roles: [] } });
    await app(pair.access);
    expect(fx.upstream.requests.at(-1)!.headers['x-user-roles']).toBe('');
    expectFailure(await call(fx.gw, 'GET', '/boss/x', { token: pair.access }), 403, 'forbidden');
  });
});

/**
 * Logins whose hash is still running when an operator acts: each read the account before the action
 * and writes its session after it. The hash is slowed (32 MiB, 3 passes, ≈ 50–150 ms here, two at a
 * time) so that the action lands while all of them hash.
 */
describe('an admin action during logins in flight', () => {
  const IN_FLIGHT = 6;
  let slow: AdminFixture;
  beforeAll(async () => {
    slow = await startSlowLoginFixture();
  });
  afterAll(() => slow?.close());

  /** Starts the logins, runs `action` once they have read the account, and returns their answers. */
  async function loginsAround(email: string, password: string, action: () => Promise<unknown>) {
    const logins = Array.from({ length: IN_FLIGHT }, () => login(slow.gw, email, password));
    await new Promise((r) => setTimeout(r, 40));
    await action();
    return Promise.all(logins);
  }

  it.each([
    ['disabled', (id: string) => adminOk(slow.gw, 'POST', `/api/users/${id}/disable`)],
    ['deleted', (id: string) => adminOk(slow.gw, 'DELETE', `/api/users/${id}`)],
  ])(
    'SECURITY: a login in flight when its user is %s leaves no session behind and no working token',
    async (_what, action) => {
      const { id, user } = await registerAndLogin(slow.gw);
      const answers = await loginsAround(user.email, user.password, () => action(id));
      for (const answer of answers) {
        if (answer.status !== 200) {
          expectFailure(answer, 401, 'invalid_credentials');
          continue;
        }
        const access = String(answer.body!.data!.access);
        expectFailure(await call(slow.gw, 'GET', '/app/x', { token: access }), 401, 'token_revoked');
      }
      expect((await adminOk(slow.gw, 'GET', `/api/users/${id}/sessions`)).sessions).toEqual([]);
    },
  );

  it('SECURITY: a login in flight when its user loses a role gets a session without that role', async () => {
    const { id, user } = await registerAndLogin(slow.gw);
    await adminOk(slow.gw, 'PUT', `/api/users/${id}/roles`, { json: { roles: ['user', 'admin'] } });
    const answers = await loginsAround(user.email, user.password, () =>
      adminOk(slow.gw, 'PUT', `/api/users/${id}/roles`, { json: { roles: ['user'] } }),
    );
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(200);
      const access = String(answer.body!.data!.access);
      expectFailure(await call(slow.gw, 'GET', '/boss/x', { token: access }), 403, 'forbidden');
      expect((await call(slow.gw, 'GET', '/app/x', { token: access })).status).toBe(200);
      expect(slow.upstream.requests.at(-1)!.headers['x-user-roles']).toBe('user');
    }
    const sessions = (await adminOk(slow.gw, 'GET', `/api/users/${id}/sessions`)).sessions as unknown[];
    expect(sessions.length).toBeGreaterThanOrEqual(1);
  });
});
