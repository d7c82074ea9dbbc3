// Active-session limits over HTTP: by default a second login evicts the first (its tokens answer
// session_replaced); max_active admits several; reject_new refuses the extra login and creates nothing.
import { afterEach, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import {
  call,
  expectFailure,
  login,
  loginOk,
  me,
  newUser,
  refresh,
  register,
  startAccountsGateway,
} from './support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

async function userIn(g: TestGateway): Promise<{ email: string; password: string; id: string }> {
  const user = newUser();
  const res = await register(g, user);
  expect(res.status).toBe(201);
  return { email: user.email, password: user.password, id: res.body!.data!.id as string };
}

describe('single active session (default max_active: 1, evict_oldest)', () => {
  it('a second login evicts the first: its access and refresh tokens get 401 session_replaced', async () => {
    gw = await startAccountsGateway();
    const u = await userIn(gw);
    const first = await loginOk(gw, u.email, u.password);
    expect((await me(gw, first.access)).status).toBe(200);
    const second = await loginOk(gw, u.email, u.password);

    const old = await me(gw, first.access);
    expectFailure(old, 401, 'session_replaced');
    expect(old.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    // The evicted session's refresh token is refused too (its exact code: see below).
    expect((await refresh(gw, first.refresh)).status).toBe(401);
    expect((await me(gw, second.access)).status).toBe(200);
    expect(await gw.services.state.listUserSessions(u.id)).toHaveLength(1);
  });

  // Ending a session keeps its refresh index entries until they expire, so the tombstone explains why.
  it("the evicted session's current refresh token answers session_replaced", async () => {
    gw = await startAccountsGateway();
    const u = await userIn(gw);
    const first = await loginOk(gw, u.email, u.password);
    await loginOk(gw, u.email, u.password);
    expectFailure(await refresh(gw, first.refresh), 401, 'session_replaced');
  });

  it("a logged-out session's current refresh token answers token_revoked", async () => {
    gw = await startAccountsGateway();
    const u = await userIn(gw);
    const pair = await loginOk(gw, u.email, u.password);
    expect((await call(gw, 'POST', '/api/auth/logout', { token: pair.access })).status).toBe(200);
    expectFailure(await refresh(gw, pair.refresh), 401, 'token_revoked');
  });

  it("another user's login does not evict anyone", async () => {
    gw = await startAccountsGateway();
    const a = await userIn(gw);
    const b = await userIn(gw);
    const pa = await loginOk(gw, a.email, a.password);
    await loginOk(gw, b.email, b.password);
    expect((await me(gw, pa.access)).status).toBe(200);
  });
});

describe('sessions.max_active: 2', () => {
  it('two sessions live together; a third evicts the oldest', async () => {
    gw = await startAccountsGateway({ yaml: 'sessions: { max_active: 2 }' });
    const u = await userIn(gw);
    const s1 = await loginOk(gw, u.email, u.password);
    const s2 = await loginOk(gw, u.email, u.password);
    expect((await me(gw, s1.access)).status).toBe(200);
    expect((await me(gw, s2.access)).status).toBe(200);

    const s3 = await loginOk(gw, u.email, u.password);
    expectFailure(await me(gw, s1.access), 401, 'session_replaced');
    expect((await me(gw, s2.access)).status).toBe(200);
    expect((await me(gw, s3.access)).status).toBe(200);
    expect(await gw.services.state.listUserSessions(u.id)).toHaveLength(2);
  });

  it('with on_exceed: reject_new the third login is 409 too_many_sessions and leaves no session', async () => {
    gw = await startAccountsGateway({ yaml: 'sessions: { max_active: 2, on_exceed: reject_new }' });
    const u = await userIn(gw);
    const s1 = await loginOk(gw, u.email, u.password);
    const s2 = await loginOk(gw, u.email, u.password);
    const before = (await gw.services.state.listUserSessions(u.id)).map((s) => s.sid).sort();

    const third = await login(gw, u.email, u.password);
    expectFailure(third, 409, 'too_many_sessions');
    expect(third.body?.data).toBeUndefined();

    const after = (await gw.services.state.listUserSessions(u.id)).map((s) => s.sid).sort();
    expect(after).toEqual(before);
    expect((await me(gw, s1.access)).status).toBe(200);
    expect((await me(gw, s2.access)).status).toBe(200);

    // Logging one out makes room again.
    expect((await call(gw, 'POST', '/api/auth/logout', { token: s1.access })).status).toBe(200);
    expect((await login(gw, u.email, u.password)).status).toBe(200);
  });
});
