// The admin API against a real gateway: the token gate on every endpoint, 404/400/405/415/413
// answers, search with cursor pagination, user detail (no secrets), routes and reload (audit.test.ts:
// the audit log).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectFailure,
  login,
  newUser,
  OPEN_LIMITS,
  PASSWORD,
  register,
  registerAndLogin,
  UA,
} from '../accounts/support.js';
import { type AdminFixture, admin, adminOk, startAdminFixture } from './support.js';

const UNKNOWN = 'f'.repeat(32);

let fx: AdminFixture;
let userId: string;
let email: string;

beforeAll(async () => {
  // Every endpoint is called without a token and with a wrong one: more refusals than the default
  // admin.token_failures allows one address (token-guessing.test.ts covers that limit).
  fx = await startAdminFixture({
    yaml: 'sessions: { max_active: 3 }',
    base: { admin: 'token_failures: 1000/m' },
  });
  const { id, user } = await registerAndLogin(fx.gw);
  userId = id;
  email = user.email;
});
afterAll(() => fx.close());

const ENDPOINTS: ReadonlyArray<[string, string]> = [
  ['GET', '/api/users'],
  ['GET', '/api/users/:id'],
  ['PUT', '/api/users/:id/roles'],
  ['POST', '/api/users/:id/unlock'],
  ['POST', '/api/users/:id/disable'],
  ['POST', '/api/users/:id/enable'],
  ['GET', '/api/users/:id/sessions'],
  ['DELETE', '/api/users/:id/sessions'],
  ['DELETE', '/api/users/:id/sessions/abc'],
  ['GET', '/api/audit'],
  ['GET', '/api/audit/types'],
  ['POST', '/api/reload'],
  ['GET', '/api/routes'],
  ['GET', '/api/stats'],
];
const at = (path: string, id = userId): string => path.replace(':id', id);
const body = (method: string) => (method === 'PUT' ? { json: { roles: ['admin'] } } : {});

describe('token gate', () => {
  it.each(ENDPOINTS)('%s %s without a token is 401 missing_token', async (method, path) => {
    const res = await admin(fx.gw, method, at(path), { token: null, ...body(method) });
    expectFailure(res, 401, 'missing_token');
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it.each(ENDPOINTS)('%s %s with a wrong token is 401 invalid_token', async (method, path) => {
    const res = await admin(fx.gw, method, at(path), { token: 'x'.repeat(40), ...body(method) });
    expectFailure(res, 401, 'invalid_token');
  });

  it('refused calls changed nothing: the user is active, roles and session intact, no admin event', async () => {
    const detail = await adminOk(fx.gw, 'GET', `/api/users/${userId}`);
    expect(detail.user).toMatchObject({ is_active: true, roles: ['user'] });
    expect((detail.sessions as unknown[]).length).toBe(1);
    await fx.gw.services.audit.flush();
    const events = (await adminOk(fx.gw, 'GET', '/api/audit?limit=500')).events as Array<{ actor: string }>;
    expect(events.filter((e) => e.actor === 'admin')).toEqual([]);
  });
});

describe('unknown users, paths and methods', () => {
  const perUser = ENDPOINTS.filter(([, p]) => p.includes(':id'));
  it.each(perUser)('%s %s of an unknown user is 404 user_not_found', async (method, path) => {
    expectFailure(await admin(fx.gw, method, at(path, UNKNOWN), body(method)), 404, 'user_not_found');
  });

  it.each(['not-an-id', 'F'.repeat(32), `${'a'.repeat(31)}%00`])(
    'a malformed id (%s) is 404 user_not_found',
    async (id) => {
      expectFailure(await admin(fx.gw, 'GET', `/api/users/${id}`), 404, 'user_not_found');
    },
  );

  it.each([
    ['PATCH', '/api/users/:id', 'GET, HEAD, DELETE'],
    ['POST', '/api/users', 'GET, HEAD'],
    ['GET', '/api/reload', 'POST'],
    ['PUT', '/api/users/:id/sessions', 'GET, HEAD, DELETE'],
    ['GET', '/api/users/:id/roles', 'PUT'],
    ['DELETE', '/api/audit', 'GET, HEAD'],
  ])('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await admin(fx.gw, method, at(path));
    expectFailure(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe(allow);
  });

  it.each(['/api', '/api/nope', '/api/users/x/y/z/w', '/api/users/'])('%s is 404 not_found', async (path) => {
    expectFailure(await admin(fx.gw, 'GET', path), 404, 'not_found');
  });
});

describe('bodies', () => {
  const roles = (options: Parameters<typeof admin>[3]) =>
    admin(fx.gw, 'PUT', `/api/users/${userId}/roles`, options);
  const JSON_TYPE = { 'content-type': 'application/json' };

  it.each([
    ['no body', {}],
    ['an empty object', { json: {} }],
    ['roles as a string', { json: { roles: 'admin' } }],
    ['a number in roles', { json: { roles: [1] } }],
    ['a role with a space', { json: { roles: ['a b'] } }],
    ['an empty role', { json: { roles: [''] } }],
    ['33 roles', { json: { roles: Array.from({ length: 33 }, (_, i) => `r${i}`) } }],
    ['an unknown field', { json: { roles: ['ok'], admin: true } }],
    ['an array body', { json: ['admin'] }],
    ['null', { body: 'null', headers: JSON_TYPE }],
  ])('PUT roles with %s is 400 validation_failed', async (_, options) => {
    expectFailure(await roles(options), 400, 'validation_failed');
  });

  it('PUT roles with broken JSON is 400 invalid_json', async () => {
    expectFailure(await roles({ body: '{"roles": [', headers: JSON_TYPE }), 400, 'invalid_json');
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx'])(
    'PUT roles as %s is 415 unsupported_media_type',
    async (type) => {
      expectFailure(
        await roles({ body: 'roles=admin', headers: { 'content-type': type } }),
        415,
        'unsupported_media_type',
      );
    },
  );

  it('a body over 64 KiB is 413 payload_too_large, announced or chunked', async () => {
    const big = JSON.stringify({ roles: ['x'], pad: 'y'.repeat(70_000) });
    expectFailure(await roles({ body: big, headers: JSON_TYPE }), 413, 'payload_too_large');
    expectFailure(await roles({ body: big, headers: JSON_TYPE, chunked: true }), 413, 'payload_too_large');
  });

  it.each(['unlock', 'disable', 'enable'])(
    'POST %s with a field, a form or broken JSON is refused',
    async (action) => {
      const path = `/api/users/${userId}/${action}`;
      expectFailure(await admin(fx.gw, 'POST', path, { json: { now: true } }), 400, 'validation_failed');
      expectFailure(
        await admin(fx.gw, 'POST', path, { body: 'x=1', headers: { 'content-type': 'text/plain' } }),
        415,
        'unsupported_media_type',
      );
      expectFailure(await admin(fx.gw, 'POST', path, { body: '{', headers: JSON_TYPE }), 400, 'invalid_json');
      // Nothing happened: the account is as it was.
      expect((await adminOk(fx.gw, 'GET', `/api/users/${userId}`)).user).toMatchObject({ is_active: true });
    },
  );

  it('POST with an empty JSON object is accepted (a client that always sends a body)', async () => {
    const data = await adminOk(fx.gw, 'POST', `/api/users/${userId}/unlock`, { json: {} });
    expect(data.user).toMatchObject({ id: userId });
  });

  it.each([
    ['all sessions', false],
    ['one session', true],
  ])(
    'DELETE %s with a field, a form or broken JSON is refused and ends nothing; {} is taken',
    async (_, one) => {
      const { id, pair } = await registerAndLogin(fx.gw);
      const sessions = async () =>
        ((await adminOk(fx.gw, 'GET', `/api/users/${id}/sessions`)).sessions as Array<{ sid: string }>).map(
          (s) => s.sid,
        );
      const [sid] = await sessions();
      const path = `/api/users/${id}/sessions${one ? `/${sid}` : ''}`;
      const field = await admin(fx.gw, 'DELETE', path, { json: { keep: 'all' } });
      expectFailure(field, 400, 'validation_failed');
      expect(field.body?.message).toMatch(/^keep: /);
      expectFailure(
        await admin(fx.gw, 'DELETE', path, { body: 'x', headers: { 'content-type': 'text/plain' } }),
        415,
        'unsupported_media_type',
      );
      expectFailure(
        await admin(fx.gw, 'DELETE', path, { body: '{', headers: JSON_TYPE }),
        400,
        'invalid_json',
      );
      // Nothing ended: the session is listed and its token still passes.
      expect(await sessions()).toEqual([sid]);
      expect((await call(fx.gw, 'GET', '/app/x', { token: pair.access })).status).toBe(200);
      expect((await adminOk(fx.gw, 'DELETE', path, { json: {} })).revoked).toEqual([sid]);
      expect(await sessions()).toEqual([]);
    },
  );
});

describe('search', () => {
  it('pages through matches with the cursor, oldest first, each user once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await register(fx.gw, newUser({ last_name: 'Pagewise' }));
      ids.push(res.body!.data!.id as string);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const data = await adminOk(fx.gw, 'GET', `/api/users?q=pagewise&limit=2${q}`);
      seen.push(...(data.users as Array<{ id: string }>).map((u) => u.id));
      cursor = data.next_cursor as string | null;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it('finds by email substring, case-insensitively', async () => {
    const data = await adminOk(fx.gw, 'GET', `/api/users?q=${encodeURIComponent(email.toUpperCase())}`);
    expect((data.users as Array<{ id: string }>).map((u) => u.id)).toEqual([userId]);
  });

  it.each([
    ['limit=0'],
    ['limit=501'],
    ['limit=abc'],
    ['limit=-1'],
    ['cursor=garbage'],
    ['q=a&q=b'],
    ['usr=x'],
    [`q=${'a'.repeat(300)}`],
  ])('?%s is 400 validation_failed', async (q) => {
    expectFailure(await admin(fx.gw, 'GET', `/api/users?${q}`), 400, 'validation_failed');
  });

  it('SECURITY: no answer carries a password hash', async () => {
    const search = await admin(fx.gw, 'GET', '/api/users?limit=500');
    const detail = await admin(fx.gw, 'GET', `/api/users/${userId}`);
    for (const res of [search, detail]) {
      expect(res.status).toBe(200);
      expect(res.text).not.toMatch(/argon2|password/i);
    }
  });
});

describe('user detail', () => {
  it('shows roles, sessions with device, IP and times, recent logins and lock state per source', async () => {
    const { id, user } = await registerAndLogin(fx.gw);
    expect((await login(fx.gw, user.email, `${PASSWORD}-wrong`)).status).toBe(401);
    expect((await login(fx.gw, user.email, `${PASSWORD}-wrong`)).status).toBe(401);
    const d = await adminOk(fx.gw, 'GET', `/api/users/${id}`);
    expect(d.user).toMatchObject({
      id,
      email: user.email,
      roles: ['user'],
      is_active: true,
      is_deleted: false,
    });
    const sessions = d.sessions as Array<Record<string, string>>;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ user_agent: UA, ip: '127.0.0.1' });
    for (const key of ['created_at', 'last_seen', 'expires_at'])
      expect(Date.parse(sessions[0]![key]!)).not.toBeNaN();
    expect(Object.keys(sessions[0]!).sort()).toEqual([
      'created_at',
      'expires_at',
      'ip',
      'last_seen',
      'sid',
      'user_agent',
    ]);
    const logins = d.logins as Array<Record<string, unknown>>;
    expect(logins.map((l) => l.success)).toEqual([false, false, true]);
    expect(logins[0]).toMatchObject({ ip: '127.0.0.1', user_agent: UA, reason: expect.any(String) });
    expect(d.lock).toMatchObject({
      account: { locked: false, failures: 2 },
      sources: [{ ip: '127.0.0.1', locked: false, failures: 2, limit: 1000 }],
    });
    const listed = await adminOk(fx.gw, 'GET', `/api/users/${id}/sessions`);
    expect(listed.sessions).toEqual(d.sessions);
  });
});

describe('routes and reload', () => {
  it('GET /api/routes lists the configured routes and the built-in endpoints', async () => {
    const data = await adminOk(fx.gw, 'GET', '/api/routes');
    const routes = data.routes as Array<Record<string, unknown>>;
    expect(data.generation).toBe(1);
    expect(routes.find((r) => r.name === 'boss')).toMatchObject({
      path: '/boss',
      auth: 'required',
      roles: ['admin'],
      internal: false,
      upstream: [fx.upstream.origin],
    });
    expect(routes.find((r) => r.name === 'portcullis:login')).toMatchObject({
      internal: true,
      methods: ['POST'],
    });
  });

  it('POST /api/reload swaps the route table, and a broken config keeps it (400, audited)', async () => {
    const gw = fx.gw;
    gw.setYaml(
      `${OPEN_LIMITS}\nroutes:\n  - { name: fresh, path: /fresh, upstream: "${fx.upstream.origin}", auth: public }\n`,
    );
    expect(await adminOk(gw, 'POST', '/api/reload')).toMatchObject({
      generation: 2,
      workers: 1,
      restart_required: ['passwords.argon2.memory_kib', 'passwords.argon2.iterations'],
    });
    const names = ((await adminOk(gw, 'GET', '/api/routes')).routes as Array<{ name: string }>).map(
      (r) => r.name,
    );
    expect(names).toContain('fresh');
    expect(names).not.toContain('boss');

    gw.setYaml('routes: [ { name: broken } ]');
    expectFailure(await admin(gw, 'POST', '/api/reload'), 400, 'validation_failed');
    expect((await adminOk(gw, 'GET', '/api/routes')).generation).toBe(2);
    await gw.services.audit.flush();
    const events = (await adminOk(gw, 'GET', '/api/audit?type=admin_reload')).events as Array<
      Record<string, unknown>
    >;
    // The new text left out the fixture's fast Argon2 settings: the hashing threads keep them until a restart.
    const restart = ['passwords.argon2.memory_kib', 'passwords.argon2.iterations'];
    expect(events.map((e) => e.details)).toEqual([
      { ok: false, reason: 'invalid_config' },
      { ok: true, generation: 2, restart_required: restart, admin_token_changed: false },
    ]);
  });
});
