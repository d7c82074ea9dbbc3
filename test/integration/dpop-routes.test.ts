// Per-route device binding (routes[].device_binding, default device_binding.mode) end to end: one gateway
// requires DPoP proofs on some routes and User-Agent binding or none on others. A DPoP-bound token is
// never a bearer token, whatever the route says (RFC 9449 §7.1); a dpop route refuses any other token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDpopExplainer } from '../../gateway/auth/dpop.js';
import { userAgentHash } from '../../gateway/auth/user-agent.js';
import { type ExplainInput, type Explanation, explainRequest, explainRouter } from '../../gateway/explain.js';
import {
  type DpopKey,
  expectDpopRefusal,
  jwtClaims,
  makeProof,
  newDpopKey,
  type Reply,
  send,
} from '../support/dpop.js';
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { newUser, OPEN_LIMITS, PASSWORD } from './accounts/support.js';

const UA = 'dpop-test/1.0'; // what `send` sends unless told otherwise

interface Login {
  readonly access: string;
  readonly refresh: string;
  readonly tokenType: string;
  readonly key?: DpopKey;
}

const url = (g: TestGateway, path: string): string => `${g.url}${path}`;

async function login(g: TestGateway, key?: DpopKey): Promise<Login> {
  const user = newUser();
  expect((await send(g, 'POST', '/api/auth/register', { json: user })).status).toBe(201);
  const r = await send(g, 'POST', '/api/auth/login', {
    json: { email: user.email, password: PASSWORD },
    ...(key === undefined ? {} : { dpop: makeProof(key, { htm: 'POST', htu: url(g, '/api/auth/login') }) }),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const data = r.body!.data!;
  return {
    access: data.access as string,
    refresh: data.refresh as string,
    tokenType: data.token_type as string,
    ...(key === undefined ? {} : { key }),
  };
}

/** A GET with the DPoP scheme and a correct fresh proof by the session's key. */
function withProof(g: TestGateway, s: Login, path: string, headers: Record<string, string> = {}) {
  const proof = makeProof(s.key!, { htm: 'GET', htu: url(g, path), token: s.access });
  return send(g, 'GET', path, { authorization: `DPoP ${s.access}`, dpop: proof, headers });
}

const bearer = (g: TestGateway, s: Login, path: string, headers: Record<string, string> = {}) =>
  send(g, 'GET', path, { authorization: `Bearer ${s.access}`, headers });

const outcome = (r: Reply) => ({ status: r.status, code: r.body?.code });

function expectBearerMismatch(r: Reply): void {
  expect(outcome(r)).toEqual({ status: 401, code: 'device_mismatch' });
  expect(String(r.headers['www-authenticate'])).toBe('Bearer error="invalid_token"');
}

let upstream: RecordingUpstream;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

const route = (name: string, extra = '') =>
  `  - { name: ${name}, path: /api/${name}, upstream: "${upstream.origin}", auth: required${extra} }`;

const yaml = (global: string, routes: string[]) => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
device_binding: { mode: ${global} }
routes:
${routes.join('\n')}
`;

describe('global user-agent, one route dpop, one off (override upwards and downwards)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(
      yaml('user-agent', [
        route('payments', ', device_binding: dpop'),
        route('orders'), // no key: the global user-agent mode
        route('open', ', device_binding: off'),
      ]),
    );
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('the global default still applies to a route without the key: a Bearer token from another User-Agent is refused', async () => {
    const s = await login(gw);
    expect(s.tokenType).toBe('Bearer');
    expect(jwtClaims(s.access).dev).toBe(userAgentHash(UA));
    expect((await bearer(gw, s, '/api/orders/1')).status).toBe(200);
    expectBearerMismatch(await bearer(gw, s, '/api/orders/1', { 'user-agent': 'other/2.0' }));
  });

  it('a route with device_binding: off takes a token from any User-Agent', async () => {
    const s = await login(gw);
    expect((await bearer(gw, s, '/api/open/1', { 'user-agent': 'other/2.0' })).status).toBe(200);
  });

  it('an unbound token on a dpop route is refused with the RFC 9449 challenge (invalid_token), forwarding nothing; the session lives', async () => {
    const s = await login(gw);
    const before = upstream.requests.length;
    expectDpopRefusal(await bearer(gw, s, '/api/payments/1'), 'invalid_token');
    // Presented with the DPoP scheme and a valid proof by some key: still not bound to it.
    const key = newDpopKey();
    const proof = makeProof(key, { htm: 'GET', htu: url(gw, '/api/payments/1'), token: s.access });
    expectDpopRefusal(
      await send(gw, 'GET', '/api/payments/1', { authorization: `DPoP ${s.access}`, dpop: proof }),
      'invalid_token',
    );
    expect(upstream.requests.length).toBe(before);
    expect((await bearer(gw, s, '/api/orders/1')).status).toBe(200); // not theft: nothing revoked
  });

  it('a missing token gets the DPoP challenge on the dpop route, the Bearer one elsewhere', async () => {
    expect(String((await send(gw, 'GET', '/api/payments/1')).headers['www-authenticate'])).toBe(
      'DPoP algs="ES256 EdDSA"',
    );
    expect(String((await send(gw, 'GET', '/api/orders/1')).headers['www-authenticate'])).toBe('Bearer');
  });

  it('a login with a proof binds the tokens to the key (cnf.jkt, token_type DPoP); the dpop route takes them with a proof', async () => {
    const s = await login(gw, newDpopKey());
    expect(s.tokenType).toBe('DPoP');
    expect(jwtClaims(s.access).cnf).toEqual({ jkt: s.key!.jkt });
    expect(jwtClaims(s.access).dev).toBeUndefined();
    expect((await withProof(gw, s, '/api/payments/1')).status).toBe(200);
  });

  it('a bound token needs its proof on the user-agent and off routes too, whatever their mode says (proof: any User-Agent)', async () => {
    const s = await login(gw, newDpopKey());
    expect((await withProof(gw, s, '/api/orders/1', { 'user-agent': 'other/2.0' })).status).toBe(200);
    expect((await withProof(gw, s, '/api/open/1')).status).toBe(200);
    // The DPoP scheme without a proof: refused, and not theft (the owner's bug), so the session lives.
    expectDpopRefusal(await send(gw, 'GET', '/api/open/1', { authorization: `DPoP ${s.access}` }));
    expect((await withProof(gw, s, '/api/open/1')).status).toBe(200);
  });

  it.each([
    ['the user-agent route', '/api/orders/1'],
    ['the off route', '/api/open/1'],
  ])(
    'a stolen bound token presented as Bearer without a proof on %s is refused, and ends the session',
    async (_what, path) => {
      const s = await login(gw, newDpopKey());
      const before = upstream.requests.length;
      // The thief even copies the owner's User-Agent: the user-agent check never runs for a bound token.
      expectDpopRefusal(await bearer(gw, s, path));
      expect(upstream.requests.length).toBe(before);
      expect(outcome(await withProof(gw, s, '/api/payments/1'))).toEqual({
        status: 401,
        code: 'token_revoked',
      });
    },
  );

  it('refresh of a bound session needs a proof by its key and keeps the binding; without one it is refused with the DPoP challenge', async () => {
    const s = await login(gw, newDpopKey());
    const refresh = (token: string, proofKey?: DpopKey) =>
      send(gw, 'POST', '/api/auth/refresh', {
        json: { refresh: token },
        ...(proofKey === undefined
          ? {}
          : { dpop: makeProof(proofKey, { htm: 'POST', htu: url(gw, '/api/auth/refresh') }) }),
      });
    const r = await refresh(s.refresh, s.key);
    expect(r.status).toBe(200);
    expect(r.body!.data!.token_type).toBe('DPoP');
    const next = { ...s, access: r.body!.data!.access as string, refresh: r.body!.data!.refresh as string };
    expect(jwtClaims(next.access).cnf).toEqual({ jkt: s.key!.jkt });
    expect((await withProof(gw, next, '/api/payments/1')).status).toBe(200);
    // Without a proof the presenter's User-Agent hash must not pass for the key (the session ends).
    expectDpopRefusal(await refresh(next.refresh));
    expect(outcome(await withProof(gw, next, '/api/payments/1'))).toEqual({
      status: 401,
      code: 'token_revoked',
    });
  });

  it('a User-Agent whose hash is a session key thumbprint cannot refresh it without the key', async () => {
    const key = newDpopKey();
    const s = await login(gw, key);
    // sha256(this User-Agent) is the key's RFC 7638 thumbprint, i.e. the bound session's device value.
    const members = { crv: key.jwk.crv, kty: key.jwk.kty, x: key.jwk.x, y: key.jwk.y };
    const forgedUa = JSON.stringify(members);
    expect(userAgentHash(forgedUa)).toBe(key.jkt);
    const r = await send(gw, 'POST', '/api/auth/refresh', {
      json: { refresh: s.refresh },
      headers: { 'user-agent': forgedUa },
    });
    expectDpopRefusal(r);
  });

  it("explain (the CLI's router and the admin API) reports the route's effective mode and judges by it", async () => {
    const plain = await login(gw);
    const bound = await login(gw, newDpopKey());
    const config = gw.current().config;
    const tokens = gw.services.tokens;
    const deps = {
      config,
      router: explainRouter(config, tokens),
      tokens,
      state: gw.services.state,
      checkDpop: createDpopExplainer(config, tokens),
    };
    const ex = (path: string, token: string, extra: Partial<ExplainInput> = {}) =>
      explainRequest({ method: 'GET', url: url(gw, path), token, userAgent: UA, ...extra }, deps);
    const routeStep = (e: Explanation) => e.steps.find((st) => st.check === 'route')!.detail;

    const payments = await ex('/api/payments/1', plain.access);
    expect(payments.device_binding).toBe('dpop');
    expect(routeStep(payments)).toContain('device binding dpop from the route');
    expect(payments.decision).toMatchObject({ allowed: false, code: 'device_mismatch' });
    const orders = await ex('/api/orders/1', plain.access);
    expect(orders.device_binding).toBe('user-agent');
    expect(routeStep(orders)).toContain('device binding user-agent from device_binding.mode');
    expect(orders.decision.allowed).toBe(true);
    const open = await ex('/api/open/1', plain.access, { userAgent: 'other/2.0' });
    expect([open.device_binding, open.decision.allowed]).toEqual(['off', true]);
    // A bound token on the user-agent route: its proof decides.
    expect((await ex('/api/orders/1', bound.access)).decision).toMatchObject({
      allowed: false,
      code: 'device_mismatch',
    });
    const proof = makeProof(bound.key!, { htm: 'GET', htu: url(gw, '/api/orders/1'), token: bound.access });
    expect((await ex('/api/orders/1', bound.access, { dpop: proof })).decision.allowed).toBe(true);

    const admin = await fetch(`${gw.adminUrl}/api/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      body: JSON.stringify({ method: 'GET', url: url(gw, '/api/payments/1'), token: plain.access }),
    });
    const data = ((await admin.json()) as { data: Explanation }).data;
    expect([data.route, data.device_binding, data.decision.code]).toEqual([
      'payments',
      'dpop',
      'device_mismatch',
    ]);
  });

  it('refresh of a User-Agent session that carries a proof keeps the User-Agent binding (and the session)', async () => {
    const s = await login(gw);
    const r = await send(gw, 'POST', '/api/auth/refresh', {
      json: { refresh: s.refresh },
      dpop: makeProof(newDpopKey(), { htm: 'POST', htu: url(gw, '/api/auth/refresh') }),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body!.data!.token_type).toBe('Bearer');
    const access = r.body!.data!.access as string;
    expect(jwtClaims(access).dev).toBe(userAgentHash(UA));
    expect((await bearer(gw, { ...s, access }, '/api/orders/1')).status).toBe(200);
  });
});

describe('global dpop, one route user-agent (override downwards)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway(
      yaml('dpop', [route('legacy', ', device_binding: user-agent'), route('orders')]),
    );
  });
  afterAll(async () => {
    await gw?.stop();
  });

  /** A token without cnf, as a login under an earlier user-agent config issued it. */
  async function legacyToken(): Promise<Login> {
    const s = await login(gw, newDpopKey());
    const c = jwtClaims(s.access);
    const signed = await gw.services.tokens.signAccess({
      sub: String(c.sub),
      sid: String(c.sid),
      roles: ['user'],
      dev: userAgentHash(UA),
    });
    return { access: signed.token, refresh: '', tokenType: 'Bearer' };
  }

  it('the global mode decides login: a login without a proof is refused', async () => {
    const user = newUser();
    await send(gw, 'POST', '/api/auth/register', { json: user });
    expectDpopRefusal(
      await send(gw, 'POST', '/api/auth/login', { json: { email: user.email, password: PASSWORD } }),
    );
  });

  it('the user-agent route checks an unbound token by its User-Agent; the route without the key (global dpop) refuses it', async () => {
    const t = await legacyToken();
    expect((await bearer(gw, t, '/api/legacy/1')).status).toBe(200);
    expectBearerMismatch(await bearer(gw, t, '/api/legacy/1', { 'user-agent': 'other/2.0' }));
    expectDpopRefusal(await bearer(gw, t, '/api/orders/1'), 'invalid_token');
  });

  it('a bound token still needs its proof on the user-agent route', async () => {
    const s = await login(gw, newDpopKey());
    expect((await withProof(gw, s, '/api/legacy/1')).status).toBe(200);
    expectDpopRefusal(await bearer(gw, s, '/api/legacy/1'));
  });
});

describe('no DPoP anywhere in the config', () => {
  it.each(['off', 'user-agent'])(
    'global %s: a DPoP-bound token (from an earlier config) is refused, never a bearer token',
    async (mode) => {
      const gw = await startTestGateway(yaml(mode, [route('orders')]));
      try {
        const s = await login(gw);
        const c = jwtClaims(s.access);
        const bound = await gw.services.tokens.signAccess({
          sub: String(c.sub),
          sid: String(c.sid),
          roles: ['user'],
          cnf: { jkt: newDpopKey().jkt },
        });
        const before = upstream.requests.length;
        expectBearerMismatch(await bearer(gw, { ...s, access: bound.token }, '/api/orders/1'));
        expect(upstream.requests.length).toBe(before);
        expect((await bearer(gw, s, '/api/orders/1')).status).toBe(200);
      } finally {
        await gw.stop();
      }
    },
  );
});
