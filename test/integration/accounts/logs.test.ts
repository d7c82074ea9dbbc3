// Reads the real log output (debug level) after a full account flow, failures and attacks included,
// and proves that no access token (or its payload or signature), refresh token, device token or
// password was written.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  call,
  db,
  login,
  me,
  newUser,
  OTHER_UA,
  type Pair,
  rawStatus,
  refresh,
  register,
  sleep,
  startAccountsGateway,
  UA,
} from './support.js';

let gw: TestGateway;
let upstream: RecordingUpstream;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  // Port 9 (discard) on loopback: nothing listens, and no parallel test can take it.
  const dead = 9;
  gw = await startAccountsGateway({
    base: { logLevel: 'debug' },
    yaml: `
routes:
  - { name: api, path: /api/things, upstream: "${upstream.origin}", auth: required }
  - { name: dead, path: /api/dead, upstream: "http://127.0.0.1:${dead}", auth: required, forward_authorization: true }
`,
  });
});
afterAll(async () => {
  await gw.stop();
  await upstream.close();
});

it('no secret of a whole flow, its failures and its attacks appears anywhere in the log', async () => {
  const user = newUser({ password: 'Sapphire-Lantern-Quokka-7781' });
  const wrongPassword = 'Wrong-Guess-Pangolin-4410';
  const secrets: Array<[string, string]> = [
    ['password', user.password],
    ['wrong password', wrongPassword],
  ];
  const addPair = (label: string, pair: Pair): void => {
    const [h, p, s] = pair.access.split('.') as [string, string, string];
    secrets.push(
      [`${label} access`, pair.access],
      [`${label} access payload`, p],
      [`${label} access signature`, s],
    );
    secrets.push([`${label} access header+payload`, `${h}.${p}`], [`${label} refresh`, pair.refresh]);
    if (pair.device_token !== undefined) secrets.push([`${label} device token`, pair.device_token]);
  };

  expect((await register(gw, user)).status).toBe(201);
  // A registration refused for its password, and one whose body is not JSON but carries the password.
  expect((await register(gw, newUser({ password: 'qwerty123456' }))).status).toBe(400);
  const broken = `{"email":"${user.email}","password":"${user.password}",}`;
  expect(
    (
      await call(gw, 'POST', '/api/auth/login', {
        body: broken,
        headers: { 'content-type': 'application/json' },
      })
    ).status,
  ).toBe(400);
  expect((await login(gw, user.email, wrongPassword)).status).toBe(401);
  expect((await login(gw, `nobody-${user.email}`, wrongPassword)).status).toBe(401);

  const first = (await login(gw, user.email, user.password)).body!.data as unknown as Pair;
  addPair('first', first);
  expect((await me(gw, first.access)).status).toBe(200);
  expect((await call(gw, 'GET', '/api/things/1', { token: first.access })).status).toBe(200);
  expect((await call(gw, 'GET', '/api/dead/1', { token: first.access })).status).toBe(502);
  // Tokens in places they do not belong: the query string and a cookie.
  expect((await call(gw, 'GET', `/api/things/2?access_token=${first.access}`)).status).toBe(401);
  expect(
    (await call(gw, 'GET', '/api/things/3', { headers: { cookie: `refresh=${first.refresh}` } })).status,
  ).toBe(401);
  // A login with a device token, a garbage one and a tampered token.
  expect(
    (
      await call(gw, 'POST', '/api/auth/login', {
        json: { email: user.email, password: wrongPassword, device_token: first.device_token },
      })
    ).status,
  ).toBe(401);
  const tampered = `${first.access.slice(0, -4)}AAAA`;
  secrets.push(['tampered access', tampered]);
  expect((await me(gw, tampered)).status).toBe(401);
  // Duplicate Authorization headers and an oversized one.
  await rawStatus(
    gw,
    `GET /api/things/4 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nAuthorization: Bearer ${first.access}\r\nAuthorization: Bearer ${first.access}\r\n\r\n`,
  );

  const rf = await refresh(gw, first.refresh);
  expect(rf.status).toBe(200);
  const second = rf.body!.data as unknown as Pair;
  addPair('second', second);
  expect((await refresh(gw, 'A'.repeat(43))).status).toBe(401);
  // The genuine token from another device (revokes), then a new login and its logout.
  expect((await me(gw, second.access, OTHER_UA)).status).toBe(401);
  const third = (await login(gw, user.email, user.password)).body!.data as unknown as Pair;
  addPair('third', third);
  expect((await call(gw, 'POST', '/api/auth/logout', { token: third.access })).status).toBe(200);
  expect((await me(gw, third.access, UA)).status).toBe(401);
  expect((await refresh(gw, third.refresh)).status).toBe(401);

  await sleep(100);
  const log = gw.rawLog();
  // The log is really being read: every request above left a line.
  expect(gw.logs.filter((l) => l.msg === 'request').length).toBeGreaterThanOrEqual(18);
  const found = secrets.filter(([, secret]) => log.includes(secret)).map(([label]) => label);
  expect(found).toEqual([]);

  // The audit trail and the login records are logs too.
  await gw.services.audit.flush();
  const stored = JSON.stringify([
    db(gw, 'SELECT type, details FROM audit_events'),
    db(gw, 'SELECT email, ip, user_agent, reason FROM login_records'),
  ]);
  expect(stored).toContain('login_success');
  expect(stored).toContain('device_mismatch');
  expect(secrets.filter(([, secret]) => stored.includes(secret)).map(([label]) => label)).toEqual([]);
});
