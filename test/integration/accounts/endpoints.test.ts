// The account endpoints' edges over HTTP: methods and exact paths, fields a client must not be able
// to set, passwords taken byte for byte, a stale token not blocking login, simultaneous registrations
// of one address, a body cut off mid-way, and a login record for every attempt that reached a user.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import {
  call,
  db,
  expectFailure,
  login,
  loginOk,
  me,
  newUser,
  PASSWORD,
  register,
  sleep,
  startAccountsGateway,
} from './support.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startAccountsGateway({ yaml: 'sessions: { max_active: 1, on_exceed: reject_new }' });
});
afterAll(async () => {
  await gw.stop();
});

describe('methods and paths', () => {
  it.each([
    ['GET', '/api/auth/login', 'POST'],
    ['GET', '/api/auth/register', 'POST'],
    ['PUT', '/api/auth/refresh', 'POST'],
    ['GET', '/api/auth/logout', 'POST'],
    ['POST', '/api/users/me', 'GET'],
    ['DELETE', '/.well-known/jwks.json', 'GET'],
  ])('%s %s → 405 method_not_allowed with Allow', async (method, path, allowed) => {
    const res = await call(gw, method, path);
    expectFailure(res, 405, 'method_not_allowed');
    expect(String(res.headers.allow)).toContain(allowed);
  });

  it.each([
    ['POST', '/api/auth/login/extra'],
    ['POST', '/api/auth/refresh/x/y'],
    ['GET', '/.well-known/jwks.json/x'],
  ])('a sub-path of an endpoint (%s %s) → 404 route_not_found', async (method, path) => {
    const res = await call(gw, method, path, method === 'POST' ? { json: {} } : {});
    expectFailure(res, 404, 'route_not_found');
  });

  it('a sub-path of the profile → 404 route_not_found, with a token or without one', async () => {
    // The router decides it, before any credential is read: an unknown path never asks for a token.
    expectFailure(await call(gw, 'GET', '/api/users/me/no-such-thing'), 404, 'route_not_found');
    const user = newUser();
    expect((await register(gw, user)).status).toBe(201);
    const pair = await loginOk(gw, user.email, user.password);
    expectFailure(
      await call(gw, 'GET', '/api/users/me/no-such-thing', { token: pair.access }),
      404,
      'route_not_found',
    );
    expect((await call(gw, 'GET', '/api/users/me/', { token: pair.access })).status).toBe(200);
  });

  it('a trailing slash names the same endpoint', async () => {
    const res = await call(gw, 'POST', '/api/auth/login/', {
      json: { email: 'x@example.com', password: 'nope' },
    });
    expectFailure(res, 401, 'invalid_credentials');
  });
});

describe('what a client cannot choose', () => {
  it('register ignores id, roles, is_active and date fields in the body (no mass assignment)', async () => {
    const user = newUser();
    const res = await register(gw, {
      ...user,
      id: 'f'.repeat(32),
      roles: ['admin'],
      is_active: false,
      is_deleted: true,
      date_joined: '2000-01-01T00:00:00.000Z',
    });
    expect(res.status).toBe(201);
    const data = res.body!.data!;
    expect(data.id).not.toBe('f'.repeat(32));
    expect(data.roles).toEqual(['user']);
    expect(data.date_joined).not.toBe('2000-01-01T00:00:00.000Z');
    const row = db(gw, 'SELECT roles, is_active, is_deleted FROM users WHERE id = ?', data.id)[0]!;
    expect(row).toEqual({ roles: '["user"]', is_active: 1, is_deleted: 0 });
    expect((await login(gw, user.email, user.password)).status).toBe(200);
  });

  it('passwords are taken as sent: no trimming, no truncation', async () => {
    const password = `  ${PASSWORD}  `;
    const user = newUser({ password });
    expect((await register(gw, user)).status).toBe(201);
    expectFailure(await login(gw, user.email, PASSWORD), 401, 'invalid_credentials');
    expectFailure(await login(gw, user.email, `${password}x`), 401, 'invalid_credentials');
    expect((await login(gw, user.email, password)).status).toBe(200);
  });
});

describe('long passwords (passwords.max_length: 1024)', () => {
  it('a password at the maximum works; one code point more is a failed login, never a truncated match', async () => {
    const password = `${'Zq7-'.repeat(255)}end!`; // 1024 code points
    const user = newUser({ password });
    expect((await register(gw, user)).status).toBe(201);
    expect((await login(gw, user.email, password)).status).toBe(200);
    expectFailure(await login(gw, user.email, `${password}x`), 401, 'invalid_credentials');
  });
});

describe('requests that must still work, or fail cleanly', () => {
  it('login, register and refresh ignore a stale or garbage Authorization header', async () => {
    const user = newUser();
    const stale = { authorization: 'Bearer stale.garbage.token' };
    expect((await call(gw, 'POST', '/api/auth/register', { json: user, headers: stale })).status).toBe(201);
    const li = await call(gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: user.password },
      headers: stale,
    });
    expect(li.status).toBe(200);
    const rf = await call(gw, 'POST', '/api/auth/refresh', {
      json: { refresh: li.body!.data!.refresh },
      headers: stale,
    });
    expect(rf.status).toBe(200);
  });

  it('simultaneous registrations of one address (in different spellings): exactly one 201, the rest 409', async () => {
    const base = `race.${process.pid}@example.com`;
    const spellings = [base, base.toUpperCase(), ` ${base}`, `${base} `, base.replace('race', 'RACE')];
    const results = await Promise.all(spellings.map((email) => register(gw, newUser({ email }))));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409]);
    for (const r of results) if (r.status === 409) expect(r.body?.code).toBe('email_taken');
    expect(db(gw, 'SELECT count(*) AS n FROM users WHERE email_canonical = ?', base)[0]!.n).toBe(1);
  });

  it('a login body cut off mid-way does not leave the request hanging', async () => {
    const before = gw.inFlight();
    const socket = connect({ port: gw.port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.write(
      'POST /api/auth/login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"email":"a@',
    );
    await sleep(100);
    expect(gw.inFlight()).toBe(before + 1);
    socket.destroy();
    const deadline = Date.now() + 2_000;
    while (gw.inFlight() > before && Date.now() < deadline) await sleep(20);
    expect(gw.inFlight()).toBe(before);
    // And the gateway still answers.
    expect((await call(gw, 'GET', '/.well-known/jwks.json')).status).toBe(200);
  });
});

describe('login records', () => {
  const records = (email: string) =>
    db(gw, 'SELECT success, reason FROM login_records WHERE email = ? ORDER BY id', email);

  it('success, wrong password and unknown email each leave a record', async () => {
    const user = newUser();
    expect((await register(gw, user)).status).toBe(201);
    await login(gw, user.email, 'wrong-password-here-1');
    await loginOk(gw, user.email, user.password);
    await login(gw, `nobody.${user.email}`, 'wrong-password-here-1');
    expect(records(user.email)).toEqual([
      { success: 0, reason: 'bad_password' },
      { success: 1, reason: null },
    ]);
    expect(records(`nobody.${user.email}`)).toEqual([{ success: 0, reason: 'unknown_email' }]);
  });

  it('security: a 16 KB User-Agent is kept as its first 512 characters in the login record (records are never pruned)', async () => {
    const user = newUser();
    expect((await register(gw, user)).status).toBe(201);
    const ua = `Mozilla/5.0 ${'x'.repeat(16_000)}`;
    await login(gw, user.email, 'wrong-password-here-1', { ua });
    const [row] = db(gw, 'SELECT user_agent FROM login_records WHERE email = ?', user.email);
    expect(row).toEqual({ user_agent: ua.slice(0, 512) });
  });

  it('a login refused for too many sessions (reject_new) is recorded as a failure, and issues nothing', async () => {
    const user = newUser();
    expect((await register(gw, user)).status).toBe(201);
    const first = await loginOk(gw, user.email, user.password);
    const second = await login(gw, user.email, user.password);
    expectFailure(second, 409, 'too_many_sessions');
    expect(records(user.email)).toEqual([
      { success: 1, reason: null },
      { success: 0, reason: 'too_many_sessions' },
    ]);
    expect((await me(gw, first.access)).status).toBe(200);
  });
});
