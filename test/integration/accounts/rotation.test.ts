// Refresh-token rotation over HTTP (tokens.refresh_reuse_grace: 300ms): each refresh spends the token;
// a spent one replayed after the grace revokes the session, within it a parallel tab gets a new pair.
// Refresh tokens are bound to the login's device like access tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import {
  call,
  db,
  expectFailure,
  loginOk,
  me,
  newUser,
  OTHER_UA,
  refresh,
  refreshOk,
  register,
  session,
  sleep,
  startAccountsGateway,
  UA,
} from './support.js';

const GRACE_MS = 300;

describe('rotation (device_binding on_mismatch: revoke, the default)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startAccountsGateway({ base: { tokens: `refresh_reuse_grace: ${GRACE_MS}ms` } });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('refreshing twice in a row works and hands out new tokens each time', async () => {
    const p0 = await session(gw);
    const p1 = await refreshOk(gw, p0.refresh);
    const p2 = await refreshOk(gw, p1.refresh);
    expect(new Set([p0.refresh, p1.refresh, p2.refresh]).size).toBe(3);
    expect(new Set([p0.access, p1.access, p2.access]).size).toBe(3);
    expect((await me(gw, p2.access)).status).toBe(200);
  });

  it('a spent refresh token replayed after the grace window → 401 refresh_reused and the session is revoked', async () => {
    const p0 = await session(gw);
    const p1 = await refreshOk(gw, p0.refresh);
    await sleep(GRACE_MS + 150);
    const replay = await refresh(gw, p0.refresh);
    expectFailure(replay, 401, 'refresh_reused');
    expect(replay.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    for (const access of [p0.access, p1.access]) expectFailure(await me(gw, access), 401, 'token_revoked');
    // The legitimate holder's current refresh token dies with the session.
    expect((await refresh(gw, p1.refresh)).status).toBe(401);
    expect((await refresh(gw, p0.refresh)).status).toBe(401);
  });

  it('the grace is per token: one spent two rotations ago is forgiven inside it, reuse after it', async () => {
    const p0 = await session(gw);
    const p1 = await refreshOk(gw, p0.refresh);
    const p2 = await refreshOk(gw, p1.refresh);
    const late = await refreshOk(gw, p0.refresh);
    await sleep(GRACE_MS + 150);
    expectFailure(await refresh(gw, p1.refresh), 401, 'refresh_reused');
    for (const p of [p2, late]) expectFailure(await me(gw, p.access), 401, 'token_revoked');
  });

  it('a spent token replayed within the grace window gets a new pair and the session lives on', async () => {
    const p0 = await session(gw);
    const tabA = await refreshOk(gw, p0.refresh);
    const tabB = await refreshOk(gw, p0.refresh);
    expect(tabB.refresh).not.toBe(tabA.refresh);
    expect((await me(gw, tabA.access)).status).toBe(200);
    expect((await me(gw, tabB.access)).status).toBe(200);
    // Both tabs carry on rotating their own tokens.
    const a2 = await refreshOk(gw, tabA.refresh);
    expect((await me(gw, a2.access)).status).toBe(200);
    await sleep(GRACE_MS + 150);
    expect((await me(gw, a2.access)).status).toBe(200);
  });

  it.each([
    ['unknown but well-formed', 'A'.repeat(43)],
    ['garbage', 'not a refresh token'],
    ['an access token', 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln'],
    ['empty', ''],
  ])('%s refresh token → 401 invalid_token', async (_name, token) => {
    const res = await refresh(gw, token);
    expectFailure(res, 401, 'invalid_token');
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('no refresh field, or one of another type → 400 validation_failed naming it', async () => {
    const missing = await call(gw, 'POST', '/api/auth/refresh', { json: {} });
    expectFailure(missing, 400, 'validation_failed');
    expect(missing.body?.message).toContain('refresh');
    const number = await call(gw, 'POST', '/api/auth/refresh', { json: { refresh: 12345 } });
    expectFailure(number, 400, 'validation_failed');
    expect(number.body?.message).toContain('refresh');
  });

  it.each([
    ['disabled', 'UPDATE users SET is_active = 0 WHERE email = ?'],
    ['deleted', 'UPDATE users SET is_deleted = 1 WHERE email = ?'],
  ])('a refresh for a user %s since login → 401 token_revoked and the session ends', async (_name, sql) => {
    const user = newUser();
    expect((await register(gw, user)).status).toBe(201);
    const p0 = await loginOk(gw, user.email, user.password);
    db(gw, sql, user.email);
    expectFailure(await refresh(gw, p0.refresh), 401, 'token_revoked');
    expectFailure(await me(gw, p0.access), 401, 'token_revoked');
  });

  it('a refresh from another User-Agent → 401 device_mismatch, and with on_mismatch: revoke the session is gone', async () => {
    const p0 = await session(gw);
    expectFailure(await refresh(gw, p0.refresh, OTHER_UA), 401, 'device_mismatch');
    expectFailure(await me(gw, p0.access, UA), 401, 'token_revoked');
    expect((await refresh(gw, p0.refresh, UA)).status).toBe(401);
  });
});

describe('rotation with device_binding on_mismatch: reject', () => {
  it("a refresh from another User-Agent is refused without spending the owner's token", async () => {
    const gw = await startAccountsGateway({ yaml: 'device_binding: { on_mismatch: reject }' });
    try {
      const p0 = await session(gw);
      expectFailure(await refresh(gw, p0.refresh, OTHER_UA), 401, 'device_mismatch');
      expect((await me(gw, p0.access)).status).toBe(200);
      const p1 = await refreshOk(gw, p0.refresh);
      expect((await me(gw, p1.access)).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});
