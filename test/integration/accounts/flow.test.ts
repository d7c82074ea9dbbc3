// The account flow over HTTP against the real gateway: register, login, profile (cached), a proxied
// request with identity headers, refresh, logout, and every token of the ended session refused after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  call,
  db,
  expectFailure,
  login,
  me,
  newUser,
  type Pair,
  refresh,
  register,
  sleep,
  startAccountsGateway,
} from './support.js';

const HEX32 = /^[0-9a-f]{32}$/;

describe('the full account flow', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startAccountsGateway({
      yaml: `
auth: { profile_cache_ttl: 1s }
routes:
  - { name: orders, path: /api/orders, upstream: "${upstream.origin}", auth: required }
`,
    });
  });
  afterAll(async () => {
    await gw.stop();
    await upstream.close();
  });

  it('registers, logs in, reads the profile, calls an upstream, refreshes, logs out; then nothing of the session works', async () => {
    const user = newUser({ first_name: 'Grace', last_name: 'Hopper' });
    const reg = await register(gw, user);
    expect(reg.status).toBe(201);
    expect(reg.body?.status).toBe('success');
    const profile = reg.body!.data!;
    expect(Object.keys(profile).sort()).toEqual([
      'date_joined',
      'email',
      'first_name',
      'id',
      'last_name',
      'roles',
    ]);
    expect(profile.id).toMatch(HEX32);
    expect(profile).toMatchObject({
      email: user.email,
      first_name: 'Grace',
      last_name: 'Hopper',
      roles: ['user'],
    });
    expect(Number.isNaN(Date.parse(profile.date_joined as string))).toBe(false);
    const id = profile.id as string;

    const li = await login(gw, user.email, user.password);
    expect(li.status).toBe(200);
    const pair = li.body!.data!;
    expect(Object.keys(pair).sort()).toEqual([
      'access',
      'device_token',
      'expires_in',
      'refresh',
      'token_type',
    ]);
    expect(pair).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    for (const k of ['access', 'refresh', 'device_token']) expect(typeof pair[k]).toBe('string');
    const first = pair as unknown as Pair;

    // Profile: answered from the user row, then from the cache until profile_cache_ttl passes.
    const cachedAt = Date.now();
    const p1 = await me(gw, first.access);
    expect(p1.status).toBe(200);
    expect(p1.body!.data).toEqual(profile);
    db(gw, 'UPDATE users SET first_name = ? WHERE id = ?', 'Changed', id);
    const p2 = await me(gw, first.access);
    expect(p2.status).toBe(200);
    expect(p2.body!.data!.first_name).toBe('Grace');
    await sleep(Math.max(0, cachedAt + 1_200 - Date.now()));
    const p3 = await me(gw, first.access);
    expect(p3.status).toBe(200);
    expect(p3.body!.data!.first_name).toBe('Changed');

    // A proxied request: the upstream learns who is calling from our headers, never from the token.
    const proxied = await call(gw, 'GET', '/api/orders/42', { token: first.access });
    expect(proxied.status).toBe(200);
    expect(upstream.requests).toHaveLength(1);
    const seen = upstream.requests[0]!.headers;
    expect(seen['x-user-id']).toBe(id);
    expect(seen['x-user-email']).toBe(user.email);
    expect(seen['x-user-roles']).toBe('user');
    expect(seen['x-session-id']).toMatch(/^[A-Za-z0-9_-]{16,}$/);

    const rf = await refresh(gw, first.refresh);
    expect(rf.status).toBe(200);
    const rotated = rf.body!.data!;
    expect(Object.keys(rotated).sort()).toEqual(['access', 'expires_in', 'refresh', 'token_type']);
    expect(rotated.token_type).toBe('Bearer');
    expect(rotated.refresh).not.toBe(first.refresh);
    const second = rotated as unknown as Pair;
    expect((await me(gw, second.access)).status).toBe(200);

    // Same session: the upstream sees the same session id through the new token.
    expect((await call(gw, 'GET', '/api/orders/43', { token: second.access })).status).toBe(200);
    expect(upstream.requests[1]!.headers['x-session-id']).toBe(seen['x-session-id']);

    const out = await call(gw, 'POST', '/api/auth/logout', { token: second.access });
    expect(out.status).toBe(200);
    expect(out.body?.status).toBe('success');

    for (const access of [first.access, second.access]) {
      const res = await me(gw, access);
      expectFailure(res, 401, 'token_revoked');
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expectFailure(await call(gw, 'GET', '/api/orders/44', { token: access }), 401, 'token_revoked');
      expectFailure(await call(gw, 'POST', '/api/auth/logout', { token: access }), 401, 'token_revoked');
    }
    // The spent refresh token finds the logout's tombstone; the current one is refused too (its exact
    // code is the known memory-store bug pinned in sessions.test.ts).
    expectFailure(await refresh(gw, first.refresh), 401, 'token_revoked');
    expect((await refresh(gw, second.refresh)).status).toBe(401);
    // Nothing after logout reached the upstream, and no request ever carried the client's token.
    expect(upstream.requests).toHaveLength(2);
    for (const r of upstream.requests) expect(r.headers.authorization).toBeUndefined();
  });

  it("each session's profile is its own user's", async () => {
    const a = newUser({ first_name: 'Alan', last_name: 'Turing' });
    const b = newUser({ first_name: 'Edsger', last_name: 'Dijkstra' });
    expect((await register(gw, a)).status).toBe(201);
    expect((await register(gw, b)).status).toBe(201);
    const [pa, pb] = [
      (await login(gw, a.email, a.password)).body!.data as unknown as Pair,
      (await login(gw, b.email, b.password)).body!.data as unknown as Pair,
    ];
    expect((await me(gw, pa.access)).body!.data!.email).toBe(a.email);
    expect((await me(gw, pb.access)).body!.data!.email).toBe(b.email);
  });
});
