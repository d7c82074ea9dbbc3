// DPoP mode (device_binding.mode: dpop, RFC 9449) end to end: login binds the session to a key, every
// request needs a fresh proof by that key, and each way of getting a proof wrong is 401 device_mismatch
// with the DPoP challenge. Server nonces, the htu behind trusted proxies (X-Forwarded-Proto and -Host),
// refresh and the upstream assertion too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DpopKey,
  expectDpopRefusal,
  jwtClaims,
  makeProof,
  newDpopKey,
  type ProofOptions,
  type Reply,
  send,
} from '../support/dpop.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { newUser, OPEN_LIMITS, PASSWORD } from './accounts/support.js';

interface Session {
  readonly key: DpopKey;
  readonly access: string;
  readonly refresh: string;
  readonly userId: string;
}

const yaml = (origin: string, extra = '') => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
device_binding: { mode: dpop${extra} }
identity_headers: { assertion: X-Auth-Assertion }
routes:
  - { name: orders, path: /api/orders, upstream: "${origin}", auth: required }
`;

let upstream: RecordingUpstream;
let gw: TestGateway;

const url = (g: TestGateway, path: string): string => `${g.url}${path}`;

async function login(g: TestGateway, key: DpopKey = newDpopKey(), nonce?: string): Promise<Session> {
  const user = newUser();
  expect((await send(g, 'POST', '/api/auth/register', { json: user })).status).toBe(201);
  const proof = makeProof(key, { htm: 'POST', htu: url(g, '/api/auth/login'), ...(nonce ? { nonce } : {}) });
  const r = await send(g, 'POST', '/api/auth/login', {
    json: { email: user.email, password: PASSWORD },
    dpop: proof,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const data = r.body!.data!;
  return {
    key,
    access: data.access as string,
    refresh: data.refresh as string,
    userId: jwtClaims(data.access as string).sub as string,
  };
}

/** A request with the DPoP scheme and a proof built from `o` (defaults: correct for GET path). */
function call(g: TestGateway, s: Session, path: string, o: Partial<ProofOptions> & { key?: DpopKey } = {}) {
  const proof = makeProof(o.key ?? s.key, {
    htm: 'GET',
    htu: url(g, path.split('?')[0]!),
    token: s.access,
    ...o,
  });
  return send(g, 'GET', path, { authorization: `DPoP ${s.access}`, dpop: proof });
}

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  gw = await startTestGateway(yaml(upstream.origin), { base: { server: 'trusted_proxies: [127.0.0.2]' } });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

describe('DPoP: binding a session to a key', () => {
  it('login without a proof is refused with the DPoP challenge', async () => {
    const user = newUser();
    await send(gw, 'POST', '/api/auth/register', { json: user });
    expectDpopRefusal(
      await send(gw, 'POST', '/api/auth/login', { json: { email: user.email, password: PASSWORD } }),
    );
  });

  it.each(['ES256', 'EdDSA'] as const)(
    'login with an %s proof issues DPoP tokens bound to that key (cnf.jkt)',
    async (alg) => {
      const key = newDpopKey(alg);
      const user = newUser();
      await send(gw, 'POST', '/api/auth/register', { json: user });
      const proof = makeProof(key, { htm: 'POST', htu: url(gw, '/api/auth/login') });
      const r = await send(gw, 'POST', '/api/auth/login', {
        json: { email: user.email, password: PASSWORD },
        dpop: proof,
      });
      expect(r.status).toBe(200);
      expect(r.body!.data!.token_type).toBe('DPoP');
      const claims = jwtClaims(r.body!.data!.access as string);
      expect(claims.cnf).toEqual({ jkt: key.jkt });
      expect(claims.dev).toBeUndefined();
    },
  );

  it('a fresh proof per request reaches the upstream; the assertion carries cnf.jkt; the query is not in htu', async () => {
    const s = await login(gw);
    const r = await call(gw, s, '/api/orders/1?page=2');
    expect(r.status).toBe(200);
    const seen = upstream.requests.at(-1)!;
    expect(seen.url).toBe('/api/orders/1?page=2');
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.dpop).toBeDefined(); // the proof is not a secret; upstreams may re-check it
    expect(jwtClaims(String(seen.headers['x-auth-assertion'])).cnf).toEqual({ jkt: s.key.jkt });
    expect((await call(gw, s, '/api/orders/2')).status).toBe(200);
  });

  it('refresh needs a proof by the same key, and keeps the binding', async () => {
    const s = await login(gw);
    const proof = makeProof(s.key, { htm: 'POST', htu: url(gw, '/api/auth/refresh') });
    const r = await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh }, dpop: proof });
    expect(r.status).toBe(200);
    expect(r.body!.data!.token_type).toBe('DPoP');
    const access = r.body!.data!.access as string;
    expect(jwtClaims(access).cnf).toEqual({ jkt: s.key.jkt });
    expect((await call(gw, { ...s, access }, '/api/orders/1')).status).toBe(200);
  });

  it('refresh without a proof, or with another key, is refused; another key ends the session (on_mismatch: revoke)', async () => {
    const s = await login(gw);
    expectDpopRefusal(await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh } }));
    const thief = makeProof(newDpopKey(), { htm: 'POST', htu: url(gw, '/api/auth/refresh') });
    expectDpopRefusal(
      await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh }, dpop: thief }),
    );
    const after = await call(gw, s, '/api/orders/1');
    expect({ status: after.status, code: after.body?.code }).toEqual({ status: 401, code: 'token_revoked' });
  });

  it('a captured refresh request replayed (same proof, same refresh token) is refused and ends the session', async () => {
    const s = await login(gw);
    const proof = makeProof(s.key, { htm: 'POST', htu: url(gw, '/api/auth/refresh') });
    const captured = () =>
      send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh }, dpop: proof });
    const first = await captured();
    expect(first.status).toBe(200);
    const replay = await captured();
    expectDpopRefusal(replay);
    expect(replay.body?.data).toBeUndefined(); // nothing issued
    // It used to be refused while the session lived on: the owner's new tokens kept working.
    const renewed = { ...s, access: first.body!.data!.access as string };
    const after = await call(gw, renewed, '/api/orders/1');
    expect({ status: after.status, code: after.body?.code }).toEqual({ status: 401, code: 'token_revoked' });
  });

  it('a replayed refresh proof with a token that names no session is refused, and ends nothing else', async () => {
    const s = await login(gw);
    const proof = makeProof(s.key, { htm: 'POST', htu: url(gw, '/api/auth/refresh') });
    const first = await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh }, dpop: proof });
    expect(first.status).toBe(200);
    const other = await login(gw);
    const bogus = `${'A'.repeat(43)}`;
    for (const refresh of [bogus, 42])
      expect(
        (await send(gw, 'POST', '/api/auth/refresh', { json: { refresh }, dpop: proof })).status,
      ).toBeGreaterThanOrEqual(400);
    expectDpopRefusal(await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: bogus }, dpop: proof }));
    expect((await call(gw, other, '/api/orders/1')).status).toBe(200);
    const renewed = { ...s, access: first.body!.data!.access as string };
    expect((await call(gw, renewed, '/api/orders/1')).status).toBe(200);
  });

  it('logout and the profile take the DPoP scheme and a proof too', async () => {
    const s = await login(gw);
    expect((await call(gw, s, '/api/users/me')).status).toBe(200);
    const proof = makeProof(s.key, { htm: 'POST', htu: url(gw, '/api/auth/logout'), token: s.access });
    expect(
      (await send(gw, 'POST', '/api/auth/logout', { authorization: `DPoP ${s.access}`, dpop: proof })).status,
    ).toBe(200);
    expect((await call(gw, s, '/api/orders/1')).body?.code).toBe('token_revoked');
  });

  it('other token failures use the DPoP scheme in their challenge', async () => {
    const missing = await send(gw, 'GET', '/api/orders/1');
    expect(missing.status).toBe(401);
    expect(String(missing.headers['www-authenticate'])).toBe('DPoP algs="ES256 EdDSA"');
    const garbage = await send(gw, 'GET', '/api/orders/1', { authorization: 'DPoP abc.def.ghi' });
    expect(String(garbage.headers['www-authenticate'])).toBe(
      'DPoP algs="ES256 EdDSA", error="invalid_token"',
    );
  });
});

describe('DPoP: every wrong proof is 401 device_mismatch', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, (s: Session) => Promise<Reply>]> = [
    ['no proof', (s) => send(gw, 'GET', '/api/orders/1', { authorization: `DPoP ${s.access}` })],
    ['wrong htm (a POST proof on a GET)', (s) => call(gw, s, '/api/orders/1', { htm: 'POST' })],
    ['lower-case htm', (s) => call(gw, s, '/api/orders/1', { htm: 'get' })],
    ['wrong htu path', (s) => call(gw, s, '/api/orders/1', { htu: url(gw, '/api/orders/2') })],
    ['wrong htu host', (s) => call(gw, s, '/api/orders/1', { htu: 'http://evil.example/api/orders/1' })],
    [
      'htu with a user name and password (not the request URI, RFC 9449 §4.3)',
      (s) =>
        call(gw, s, '/api/orders/1', { htu: url(gw, '/api/orders/1').replace('http://', 'http://u:pw@') }),
    ],
    [
      'wrong htu scheme (https, no trusted proxy said so)',
      (s) => call(gw, s, '/api/orders/1', { htu: url(gw, '/api/orders/1').replace('http:', 'https:') }),
    ],
    ['stale iat (2 minutes old)', (s) => call(gw, s, '/api/orders/1', { iat: now() - 120 })],
    ['iat 2 minutes in the future', (s) => call(gw, s, '/api/orders/1', { iat: now() + 120 })],
    ['missing ath', (s) => call(gw, s, '/api/orders/1', { claims: { ath: undefined } })],
    ['ath of another token', (s) => call(gw, s, '/api/orders/1', { token: `${s.access}x` })],
    ['missing jti', (s) => call(gw, s, '/api/orders/1', { claims: { jti: undefined } })],
    ['typ JWT instead of dpop+jwt', (s) => call(gw, s, '/api/orders/1', { header: { typ: 'JWT' } })],
    ['no jwk in the header', (s) => call(gw, s, '/api/orders/1', { header: { jwk: undefined } })],
    [
      'a private key (d) in the jwk',
      (s) =>
        call(gw, s, '/api/orders/1', { header: { jwk: { ...s.key.privateKey.export({ format: 'jwk' }) } } }),
    ],
    [
      'HS256 (a symmetric proof)',
      (s) =>
        call(gw, s, '/api/orders/1', {
          hmacSecret: 'shared',
          header: { jwk: { kty: 'oct', k: 'c2hhcmVk' } },
        }),
    ],
    ['alg none', (s) => call(gw, s, '/api/orders/1', { header: { alg: 'none' } })],
    [
      'alg ES256 with an Ed25519 jwk',
      (s) => call(gw, s, '/api/orders/1', { key: newDpopKey('EdDSA'), header: { alg: 'ES256' } }),
    ],
    [
      'a signature over other claims',
      (s) => {
        const good = makeProof(s.key, { htm: 'GET', htu: url(gw, '/api/orders/1'), token: s.access });
        const [h, , sig] = good.split('.');
        const forged = Buffer.from(
          JSON.stringify({ ...jwtClaims(good), htu: url(gw, '/api/orders/9') }),
        ).toString('base64url');
        return send(gw, 'GET', '/api/orders/9', {
          authorization: `DPoP ${s.access}`,
          dpop: `${h}.${forged}.${sig}`,
        });
      },
    ],
    [
      'two DPoP headers',
      (s) => {
        const p = () => makeProof(s.key, { htm: 'GET', htu: url(gw, '/api/orders/1'), token: s.access });
        return send(gw, 'GET', '/api/orders/1', { authorization: `DPoP ${s.access}`, dpop: [p(), p()] });
      },
    ],
    ['a proof by another key (wrong key)', (s) => call(gw, s, '/api/orders/1', { key: newDpopKey() })],
    [
      'Bearer presentation of a DPoP-bound token (downgrade), with a valid proof',
      (s) => {
        const proof = makeProof(s.key, { htm: 'GET', htu: url(gw, '/api/orders/1'), token: s.access });
        return send(gw, 'GET', '/api/orders/1', { authorization: `Bearer ${s.access}`, dpop: proof });
      },
    ],
    [
      'Bearer presentation of a DPoP-bound token, no proof',
      (s) => send(gw, 'GET', '/api/orders/1', { authorization: `Bearer ${s.access}` }),
    ],
  ];

  it.each(cases)('%s', async (_what, attempt) => {
    const s = await login(gw);
    const before = upstream.requests.length;
    expectDpopRefusal(await attempt(s));
    expect(upstream.requests.length).toBe(before); // nothing was forwarded
  });

  it('a replayed proof (same jti) is refused the second time, and ends the session', async () => {
    const s = await login(gw);
    const proof = makeProof(s.key, { htm: 'GET', htu: url(gw, '/api/orders/1'), token: s.access });
    const once = () => send(gw, 'GET', '/api/orders/1', { authorization: `DPoP ${s.access}`, dpop: proof });
    expect((await once()).status).toBe(200);
    expectDpopRefusal(await once());
    expect((await call(gw, s, '/api/orders/1')).body?.code).toBe('token_revoked');
  });

  it.each([
    ['a proof by another key', (s: Session) => call(gw, s, '/api/orders/1', { key: newDpopKey() })],
    [
      'a Bearer presentation',
      (s: Session) => send(gw, 'GET', '/api/orders/1', { authorization: `Bearer ${s.access}` }),
    ],
  ])('theft evidence ends the session: %s', async (_what, attempt) => {
    const s = await login(gw);
    expectDpopRefusal(await attempt(s));
    expect((await call(gw, s, '/api/orders/1')).body?.code).toBe('token_revoked');
  });

  it('a stale or malformed proof from the owner refuses only that request (the session lives)', async () => {
    const s = await login(gw);
    expectDpopRefusal(await call(gw, s, '/api/orders/1', { iat: now() - 300 }));
    expectDpopRefusal(await call(gw, s, '/api/orders/1', { htm: 'PUT' }));
    expect((await call(gw, s, '/api/orders/1')).status).toBe(200);
  });

  it('a login proof carrying ath, or made for another URI, is refused', async () => {
    const key = newDpopKey();
    const user = newUser();
    await send(gw, 'POST', '/api/auth/register', { json: user });
    const body = { json: { email: user.email, password: PASSWORD } };
    const withAth = makeProof(key, { htm: 'POST', htu: url(gw, '/api/auth/login'), token: 'x' });
    expectDpopRefusal(await send(gw, 'POST', '/api/auth/login', { ...body, dpop: withAth }));
    const elsewhere = makeProof(key, { htm: 'POST', htu: url(gw, '/api/auth/refresh') });
    expectDpopRefusal(await send(gw, 'POST', '/api/auth/login', { ...body, dpop: elsewhere }));
  });

  it('a token without cnf (not DPoP-bound) is refused even with a valid proof', async () => {
    const s = await login(gw);
    const c = jwtClaims(s.access);
    const unbound = await gw.services.tokens.signAccess({
      sub: String(c.sub),
      sid: String(c.sid),
      roles: ['user'],
    });
    expectDpopRefusal(await call(gw, { ...s, access: unbound.token }, '/api/orders/1'), 'invalid_token');
  });
});

describe('DPoP: the URI the gateway sees', () => {
  it('behind a trusted proxy that says https, the htu must be https; the same header from a client is ignored', async () => {
    const s = await login(gw);
    const https = url(gw, '/api/orders/1').replace('http:', 'https:');
    const viaProxy = (htu: string) =>
      send(gw, 'GET', '/api/orders/1', {
        authorization: `DPoP ${s.access}`,
        dpop: makeProof(s.key, { htm: 'GET', htu, token: s.access }),
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.7' },
        from: '127.0.0.2',
      });
    expect((await viaProxy(https)).status).toBe(200);
    expectDpopRefusal(await viaProxy(url(gw, '/api/orders/1')));
    // From an untrusted peer the header is not believed: the scheme stays http.
    const direct = await send(gw, 'GET', '/api/orders/1', {
      authorization: `DPoP ${s.access}`,
      dpop: makeProof(s.key, { htm: 'GET', htu: https, token: s.access }),
      headers: { 'x-forwarded-proto': 'https' },
    });
    expectDpopRefusal(direct);
  });

  it('behind a trusted proxy, the htu is the external URL of X-Forwarded-Proto and X-Forwarded-Host (login and requests)', async () => {
    const external = (path: string) => `https://api.example.com${path}`;
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' };
    const key = newDpopKey();
    const user = newUser();
    await send(gw, 'POST', '/api/auth/register', { json: user });
    const r = await send(gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: PASSWORD },
      dpop: makeProof(key, { htm: 'POST', htu: external('/api/auth/login') }),
      headers: forwarded,
      from: '127.0.0.2',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const access = r.body!.data!.access as string;
    const viaProxy = (htu: string) =>
      send(gw, 'GET', '/api/orders/1', {
        authorization: `DPoP ${access}`,
        dpop: makeProof(key, { htm: 'GET', htu, token: access }),
        headers: forwarded,
        from: '127.0.0.2',
      });
    expect((await viaProxy(external('/api/orders/1'))).status).toBe(200);
    // The URL as the gateway's own Host header spells it is not what the client addressed.
    expectDpopRefusal(await viaProxy(url(gw, '/api/orders/1')));
    expectDpopRefusal(await viaProxy(url(gw, '/api/orders/1').replace('http:', 'https:')));
  });

  it('from an untrusted peer, X-Forwarded-Host is not believed: the htu is the Host header', async () => {
    const s = await login(gw);
    const direct = (htu: string) =>
      send(gw, 'GET', '/api/orders/1', {
        authorization: `DPoP ${s.access}`,
        dpop: makeProof(s.key, { htm: 'GET', htu, token: s.access }),
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' },
      });
    expectDpopRefusal(await direct('https://api.example.com/api/orders/1'));
    expectDpopRefusal(await direct('http://api.example.com/api/orders/1'));
    expect((await direct(url(gw, '/api/orders/1'))).status).toBe(200);
  });

  it('the htu host may differ in case and spell the default port', async () => {
    const s = await login(gw);
    const shouty = url(gw, '/api/orders/1').replace('http://127.0.0.1', 'HTTP://127.0.0.1');
    expect((await call(gw, s, '/api/orders/1', { htu: shouty })).status).toBe(200);
  });
});

describe('DPoP server nonces (device_binding.dpop_nonce: true)', () => {
  let ngw: TestGateway;
  beforeAll(async () => {
    ngw = await startTestGateway(yaml(upstream.origin, ', dpop_nonce: true'));
  });
  afterAll(async () => {
    await ngw?.stop();
  });

  it('a proof without the nonce gets use_dpop_nonce and a DPoP-Nonce; with it, login and requests work', async () => {
    const key = newDpopKey();
    const user = newUser();
    await send(ngw, 'POST', '/api/auth/register', { json: user });
    const body = { json: { email: user.email, password: PASSWORD } };
    const first = await send(ngw, 'POST', '/api/auth/login', {
      ...body,
      dpop: makeProof(key, { htm: 'POST', htu: url(ngw, '/api/auth/login') }),
    });
    expectDpopRefusal(first, 'use_dpop_nonce');
    const nonce = String(first.headers['dpop-nonce']);
    expect(nonce).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    const second = await send(ngw, 'POST', '/api/auth/login', {
      ...body,
      dpop: makeProof(key, { htm: 'POST', htu: url(ngw, '/api/auth/login'), nonce }),
    });
    expect(second.status).toBe(200);
    expect(second.headers['dpop-nonce']).toBe(nonce);
    const s = { key, access: second.body!.data!.access as string, refresh: '', userId: '' };
    expect((await call(ngw, s, '/api/orders/1', { nonce })).status).toBe(200);
    expectDpopRefusal(await call(ngw, s, '/api/orders/1'), 'use_dpop_nonce');
    expectDpopRefusal(
      await call(ngw, s, '/api/orders/1', { nonce: `${nonce.split('.')[0]}.${'A'.repeat(22)}` }),
      'use_dpop_nonce',
    );
  });
});

describe('explain in DPoP mode (admin API)', () => {
  it('checks the token and proof without recording the proof: the same proof still works afterwards', async () => {
    const s = await login(gw);
    const proof = makeProof(s.key, { htm: 'GET', htu: url(gw, '/api/orders/1'), token: s.access });
    const explain = (dpop?: string) =>
      fetch(`${gw.adminUrl}/api/explain`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer admin-token-for-tests-0123456789abcdef',
        },
        body: JSON.stringify({
          method: 'GET',
          url: url(gw, '/api/orders/1'),
          token: s.access,
          ...(dpop ? { dpop } : {}),
        }),
      }).then(
        async (r) =>
          ((await r.json()) as { data: { decision: { allowed: boolean; code?: string; detail: string } } })
            .data,
      );
    expect((await explain()).decision).toMatchObject({ allowed: false, code: 'device_mismatch' });
    // The proof's own fault is named, as in the gateway's challenge (it said only device_mismatch).
    const wrongMethod = makeProof(s.key, { htm: 'POST', htu: url(gw, '/api/orders/1'), token: s.access });
    expect((await explain(wrongMethod)).decision.detail).toMatch(/htm/);
    expect((await explain(proof)).decision.allowed).toBe(true);
    expect(
      (await send(gw, 'GET', '/api/orders/1', { authorization: `DPoP ${s.access}`, dpop: proof })).status,
    ).toBe(200);
  });
});
