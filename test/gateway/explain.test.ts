// explainRequest against a real running gateway's router, token service and state store, and the admin
// API's POST /api/explain. Explain reads only: it must never count, revoke or forward.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenService } from '../../gateway/auth/tokens.js';
import { userAgentHash } from '../../gateway/auth/user-agent.js';
import { type ExplainInput, explainRequest, explainRouter } from '../../gateway/explain.js';
import { call, OPEN_LIMITS, registerAndLogin, UA } from '../integration/accounts/support.js';
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

let upstream: RecordingUpstream;
let gw: TestGateway;
let access: string;

const yaml = (origin: string) => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
routes:
  - { name: orders, path: /api/orders, upstream: "${origin}", auth: required, methods: [GET, POST], rate_limit: 30/m }
  - { name: admin, path: /api/admin, upstream: "${origin}", auth: required, roles: [admin] }
  - { name: shop, path: /, host: shop.example.com, upstream: "${origin}", auth: public }
`;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(yaml(upstream.origin));
  ({
    pair: { access },
  } = await registerAndLogin(gw));
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

function explain(input: Partial<ExplainInput>) {
  const s = gw.current();
  return explainRequest(
    { method: 'GET', url: 'http://gw.test/api/orders/1', ...input },
    { config: s.config, router: s.router, tokens: gw.services.tokens, state: gw.services.state },
  );
}

const outcomes = (e: Awaited<ReturnType<typeof explain>>) =>
  Object.fromEntries(e.steps.map((s) => [s.check, s.outcome]));

describe('explain: each check in order, stopping where the pipeline stops', () => {
  const denied: Array<[string, () => Partial<ExplainInput>, string, number, string]> = [
    // The gateway's parser refuses these methods (400) before any check; explain allowed them.
    ['a lower-case method', () => ({ method: 'get' }), 'bad_request', 400, 'path'],
    ['a method HTTP does not know', () => ({ method: 'BREW' }), 'bad_request', 400, 'path'],
    ['a dot segment', () => ({ url: 'http://gw.test/api/orders/%2e%2e/admin' }), 'bad_path', 400, 'path'],
    ['an encoded slash', () => ({ url: 'http://gw.test/api%2Forders' }), 'bad_path', 400, 'path'],
    ['a malformed Host', () => ({ url: 'http://bad host/api/orders' }), 'bad_request', 400, 'host'],
    ['an unknown path', () => ({ url: 'http://gw.test/nowhere' }), 'route_not_found', 404, 'route'],
    ['a method the route does not allow', () => ({ method: 'DELETE' }), 'method_not_allowed', 405, 'route'],
    ['no token on an auth route', () => ({}), 'missing_token', 401, 'authentication'],
    [
      'a garbage token',
      () => ({ token: 'abc.def.ghi', userAgent: UA }),
      'invalid_token',
      401,
      'authentication',
    ],
    [
      'another User-Agent',
      () => ({ token: access, userAgent: 'curl/8' }),
      'device_mismatch',
      401,
      'device binding',
    ],
    [
      'a role the user lacks',
      () => ({ token: access, userAgent: UA, url: 'http://gw.test/api/admin/x' }),
      'forbidden',
      403,
      'authorization',
    ],
  ];

  it.each(denied)('%s is denied with %s (%i) at the %s check', async (_what, input, code, status, at) => {
    const e = await explain(input());
    expect(e.decision).toMatchObject({ allowed: false, code, status });
    const failing = e.steps.filter((s) => s.outcome === 'fail');
    expect(failing.map((s) => [s.check, s.code])).toEqual([[at, code]]);
    // Nothing after the failing check ran.
    const after = e.steps.slice(e.steps.findIndex((s) => s.check === at) + 1);
    for (const s of after) expect(s.detail).toBe('not reached');
  });

  it('an expired token is token_expired', async () => {
    const past = await createTokenService({
      tokens: gw.config.tokens,
      assertionKeyFile: null,
      dataDir: gw.dir,
      now: () => Date.now() - 3_600_000,
    });
    const old = await past.signAccess({ sub: 'u', sid: 's', roles: [], dev: userAgentHash(UA) });
    const e = await explain({ token: old.token, userAgent: UA });
    expect(e.decision).toMatchObject({ allowed: false, code: 'token_expired', status: 401 });
  });

  it('a live session with the right device is allowed: forwarded to the upstream with the path it would get', async () => {
    const e = await explain({ token: access, userAgent: UA, url: 'http://gw.test/api/orders/7?x=1' });
    expect(e.decision).toMatchObject({ allowed: true });
    expect(e.decision.detail).toBe(`forwarded to ${upstream.origin} as GET /api/orders/7?x=1`);
    expect(e.route).toBe('orders');
    expect(outcomes(e)).toEqual({
      path: 'pass',
      host: 'pass',
      route: 'pass',
      authentication: 'pass',
      'device binding': 'pass',
      'session state': 'pass',
      'rate limits': 'skip',
      authorization: 'pass',
    });
    expect(e.steps.find((s) => s.check === 'rate limits')!.detail).toMatch(
      /^not consumed.*route 30\/m, global/,
    );
  });

  it('host-specific routes match on the URL host; an origin-form URL takes --host', async () => {
    expect((await explain({ url: 'http://SHOP.example.com:8080/anything' })).route).toBe('shop');
    expect((await explain({ url: '/anything', host: 'shop.example.com' })).route).toBe('shop');
    expect((await explain({ url: 'http://other.example.com/anything' })).decision.code).toBe(
      'route_not_found',
    );
  });

  it("the gateway's own endpoints are answered by the gateway; login never reads a token", async () => {
    const e = await explain({ method: 'POST', url: 'http://gw.test/api/auth/login', token: 'garbage' });
    expect(e.decision).toMatchObject({ allowed: true, detail: 'answered by the gateway (portcullis:login)' });
    expect(e.steps.find((s) => s.check === 'authentication')!.outcome).toBe('skip');
  });

  it('explain has no side effects: a device mismatch revokes nothing and no rate limit is counted', async () => {
    const { pair } = await registerAndLogin(gw);
    const first = await call(gw, 'GET', '/api/orders/1', { token: pair.access });
    const remaining = Number(first.headers['ratelimit-remaining']);
    for (let i = 0; i < 5; i++) {
      expect((await explain({ token: pair.access, userAgent: 'thief/1.0' })).decision.code).toBe(
        'device_mismatch',
      );
      expect((await explain({ token: pair.access, userAgent: UA })).decision.allowed).toBe(true);
    }
    const later = await call(gw, 'GET', '/api/orders/1', { token: pair.access });
    expect(later.status).toBe(200);
    expect(Number(later.headers['ratelimit-remaining'])).toBe(remaining - 1);
  });

  it('the router explain builds from a config alone is the one the gateway runs', async () => {
    const router = explainRouter(gw.config, gw.services.tokens);
    const e = await explainRequest(
      { method: 'GET', url: 'http://gw.test/api/orders/1', token: access, userAgent: UA },
      { config: gw.config, router, tokens: gw.services.tokens, state: null, stateNote: 'memory state' },
    );
    expect(e.decision.allowed).toBe(true);
    expect(e.steps.find((s) => s.check === 'session state')).toMatchObject({
      outcome: 'skip',
      detail: 'not checked: memory state',
    });
  });
});

describe('admin API POST /api/explain', () => {
  const post = (body: unknown, token: string | null = TEST_ADMIN_TOKEN) =>
    fetch(`${gw.adminUrl}/api/explain`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    });

  it('checks the session in the running gateway: live, then token_revoked after logout', async () => {
    const { pair } = await registerAndLogin(gw);
    const body = { method: 'GET', url: 'http://gw.test/api/orders/1', token: pair.access, user_agent: UA };
    const live = await post(body);
    expect(live.status).toBe(200);
    const data = ((await live.json()) as { data: { decision: { allowed: boolean }; steps: unknown[] } }).data;
    expect(data.decision.allowed).toBe(true);
    expect(data.steps).toContainEqual(expect.objectContaining({ check: 'session state', outcome: 'pass' }));
    expect((await call(gw, 'POST', '/api/auth/logout', { token: pair.access })).status).toBe(200);
    const dead = (await (await post(body)).json()) as {
      data: { decision: { code: string; status: number } };
    };
    expect(dead.data.decision).toMatchObject({ code: 'token_revoked', status: 401 });
  });

  it.each([
    [{ url: '/x' }, 'method missing'],
    [{ method: 'GET' }, 'url missing'],
    [{ method: 'GET', url: '/x', extra: 1 }, 'unknown field'],
    [{ method: 'G E T', url: '/x' }, 'bad method'],
    [{ method: 'GET', url: '/x' }, 'origin-form URL without host'],
  ])('%j is 400 validation_failed (%s)', async (body, _why) => {
    const r = await post(body);
    expect({ status: r.status, code: ((await r.json()) as { code: string }).code }).toEqual({
      status: 400,
      code: 'validation_failed',
    });
  });

  it('needs the admin token', async () => {
    const r = await post({ method: 'GET', url: 'http://gw.test/' }, null);
    expect(r.status).toBe(401);
  });
});
