// Request handling on the admin listener, over HTTP: one `admin request` log line and one count per API
// call, refused ones included and never the token; query parameters checked on every endpoint; HEAD
// answered like GET; the probes take GET and HEAD only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN } from '../../support/gateway.js';
import { expectFailure, registerAndLogin } from '../accounts/support.js';
import { waitFor } from '../helpers.js';
import { type AdminFixture, admin, adminOk, startAdminFixture } from './support.js';

let fx: AdminFixture;
let userId: string;

beforeAll(async () => {
  fx = await startAdminFixture({ yaml: 'sessions: { max_active: 3 }' });
  userId = (await registerAndLogin(fx.gw)).id;
});
afterAll(() => fx.close());

type Line = Record<string, unknown>;
const requestLines = (): Line[] => fx.gw.logs.filter((l) => l.msg === 'admin request');

/** The `admin request` line of `path` (written when the response closes, a moment after the client read it). */
async function lineFor(path: string): Promise<Line> {
  await waitFor(() => requestLines().some((l) => l.path === path), 2_000, `the log line of ${path}`);
  const lines = requestLines().filter((l) => l.path === path);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

async function adminRequests(status: number): Promise<number | undefined> {
  const res = await admin(fx.gw, 'GET', '/metrics', { token: null });
  const m = new RegExp(`^portcullis_admin_requests_total\\{status="${status}"\\} (\\S+)$`, 'm').exec(
    res.text,
  );
  return m === null ? undefined : Number(m[1]);
}

/** A user id nobody has: each test's calls get a path of their own to find their log line by. */
const fresh = (digit: string): string => `/api/users/${digit.repeat(32)}`;

describe('every API call is logged and counted, refused ones included', () => {
  it('401 missing_token: one warn line with method, path (no query), status, code, ms, peer', async () => {
    const path = fresh('1');
    expectFailure(await admin(fx.gw, 'GET', `${path}?q=secret-term`, { token: null }), 401, 'missing_token');
    const line = await lineFor(path);
    expect(line).toMatchObject({
      level: 'warn',
      method: 'GET',
      status: 401,
      code: 'missing_token',
      ip: '127.0.0.1',
      ms: expect.any(Number),
    });
    expect(fx.gw.rawLog()).not.toContain('secret-term');
  });

  it('SECURITY: 401 invalid_token is logged without the guessed token or the real one', async () => {
    const path = fresh('2');
    const guess = `guess-${'z'.repeat(40)}`;
    expectFailure(await admin(fx.gw, 'DELETE', `${path}/sessions`, { token: guess }), 401, 'invalid_token');
    expect(await lineFor(`${path}/sessions`)).toMatchObject({
      level: 'warn',
      method: 'DELETE',
      status: 401,
      code: 'invalid_token',
    });
    // A scheme other than Bearer, and the token sent twice: refused and logged too.
    const other = fresh('3');
    const basic = await admin(fx.gw, 'GET', other, {
      token: null,
      headers: { authorization: `Basic ${TEST_ADMIN_TOKEN}` },
    });
    expectFailure(basic, 401, 'invalid_token');
    expect(await lineFor(other)).toMatchObject({ status: 401, code: 'invalid_token' });
    const twice = fresh('4');
    const dup = await admin(fx.gw, 'GET', twice, {
      token: null,
      headers: { authorization: [`Bearer ${TEST_ADMIN_TOKEN}`, `Bearer ${guess}`] },
    });
    expectFailure(dup, 400, 'bad_request');
    expect(await lineFor(twice)).toMatchObject({ status: 400, code: 'bad_request' });
    const log = fx.gw.rawLog();
    expect(log).not.toContain(guess);
    expect(log).not.toContain(TEST_ADMIN_TOKEN);
  });

  it('an authorised call is one info line: its status, and the code when it failed', async () => {
    const path = fresh('5');
    expectFailure(await admin(fx.gw, 'GET', path), 404, 'user_not_found');
    expect(await lineFor(path)).toMatchObject({ level: 'info', status: 404, code: 'user_not_found' });
    await adminOk(fx.gw, 'GET', `/api/users/${userId}/sessions`);
    const ok = await lineFor(`/api/users/${userId}/sessions`);
    expect(ok).toMatchObject({ level: 'info', method: 'GET', status: 200 });
    expect(ok.code).toBeUndefined();
  });

  it('/metrics counts API calls by status: refusals at the gate under 401', async () => {
    const before = (await adminRequests(401)) ?? Number.NaN;
    expect(before).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 3; i++) {
      expectFailure(await admin(fx.gw, 'GET', '/api/stats', { token: 'x'.repeat(40) }), 401, 'invalid_token');
    }
    expectFailure(await admin(fx.gw, 'GET', '/api/audit', { token: null }), 401, 'missing_token');
    await waitFor(async () => (await adminRequests(401)) === before + 4, 2_000, 'four more refusals');
    expect(await adminRequests(200)).toBeGreaterThan(0);
  });

  it('the probes, /metrics and the page are not API calls: no line', async () => {
    const before = requestLines().length;
    for (const path of ['/healthz', '/readyz', '/metrics', '/']) {
      expect((await admin(fx.gw, 'GET', path, { token: null })).status).toBe(200);
    }
    await adminOk(fx.gw, 'GET', '/api/routes');
    await lineFor('/api/routes');
    expect(requestLines().length).toBe(before + 1);
  });
});

describe('query parameters: each endpoint takes only its own', () => {
  const at = (path: string): string => path.replace(':id', userId);
  const ROLES = { json: { roles: ['user'] } };
  const EXPLAIN = { json: { method: 'GET', url: 'http://localhost/pub/x' } };
  it.each([
    ['GET', '/api/users/:id?x=1', {}],
    ['GET', '/api/users/:id?q=a', {}],
    ['PUT', '/api/users/:id/roles?x=1', ROLES],
    ['POST', '/api/users/:id/unlock?x=1', {}],
    ['POST', '/api/users/:id/disable?x=1', {}],
    ['POST', '/api/users/:id/enable?x=1', {}],
    ['GET', '/api/users/:id/sessions?limit=2', {}],
    ['DELETE', '/api/users/:id/sessions?x', {}],
    ['DELETE', '/api/users/:id/sessions/abc?x=1', {}],
    ['GET', '/api/routes?x=1', {}],
    ['GET', '/api/stats?x=1', {}],
    ['POST', '/api/reload?x=1', {}],
    ['POST', '/api/explain?x=1', EXPLAIN],
    ['GET', '/api/users?limit=1&limit=2', {}],
    ['GET', '/api/audit?user=a&x=1', {}],
  ])('%s %s is 400 validation_failed', async (method, path, options) => {
    expectFailure(await admin(fx.gw, method, at(path), options), 400, 'validation_failed');
  });

  it('a refused call changed nothing: user active, session kept, config generation 1, no admin event', async () => {
    const detail = await adminOk(fx.gw, 'GET', `/api/users/${userId}`);
    expect(detail.user).toMatchObject({ is_active: true, roles: ['user'] });
    expect(detail.sessions as unknown[]).toHaveLength(1);
    expect((await adminOk(fx.gw, 'GET', '/api/routes')).generation).toBe(1);
    await fx.gw.services.audit.flush();
    const events = (await adminOk(fx.gw, 'GET', '/api/audit?limit=500')).events as Array<{ actor: string }>;
    expect(events.filter((e) => e.actor === 'admin')).toEqual([]);
  });

  it('an empty query is no parameter', async () => {
    await adminOk(fx.gw, 'GET', '/api/stats?');
  });
});

describe('methods', () => {
  it.each(['/api/stats', '/api/routes', '/api/users', '/api/users/:id', '/api/audit'])(
    'HEAD %s answers like GET, without a body',
    async (path) => {
      const target = path.replace(':id', userId);
      const get = await admin(fx.gw, 'GET', target);
      const head = await admin(fx.gw, 'HEAD', target);
      expect(get.status).toBe(200);
      expect(head.status).toBe(200);
      expect(head.headers['content-type']).toBe(get.headers['content-type']);
      expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
      expect(head.text).toBe('');
    },
  );

  it('HEAD on the API needs the token like GET', async () => {
    const res = await admin(fx.gw, 'HEAD', '/api/stats', { token: null });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it.each(['/healthz', '/readyz', '/metrics'])('HEAD %s is 200 without a body', async (path) => {
    const get = await admin(fx.gw, 'GET', path, { token: null });
    const head = await admin(fx.gw, 'HEAD', path, { token: null });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
    expect(head.text).toBe('');
  });

  it.each([
    ['POST', '/healthz'],
    ['PATCH', '/healthz'],
    ['DELETE', '/healthz'],
    ['POST', '/readyz'],
    ['PATCH', '/readyz'],
    ['POST', '/metrics'],
    ['PUT', '/metrics'],
  ])('%s %s is 405 with Allow: GET, HEAD', async (method, path) => {
    const res = await admin(fx.gw, method, path, { token: null });
    expectFailure(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('405 on a GET endpoint of the API lists HEAD; HEAD on an action is 405 and does nothing', async () => {
    const res = await admin(fx.gw, 'POST', '/api/stats');
    expectFailure(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe('GET, HEAD');
    const head = await admin(fx.gw, 'HEAD', `/api/users/${userId}/disable`);
    expect(head.status).toBe(405);
    expect(head.headers.allow).toBe('POST');
    expect((await adminOk(fx.gw, 'GET', `/api/users/${userId}`)).user).toMatchObject({ is_active: true });
  });
});
