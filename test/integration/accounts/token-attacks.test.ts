// Access-token attacks through the HTTP API, as named tests: forged, tampered, mis-addressed, expired
// and oversized tokens, other schemes and places to hide a token. Every one is a 4xx that is never
// forwarded and never anonymous; and a token whose signature fails can never revoke anyone's session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  b64,
  decodePart,
  forge,
  hmacSigner,
  SECRET as WRONG_SECRET,
} from '../../gateway/auth/tokens-forge.js';
import type { TestGateway } from '../../support/gateway.js';
import { TEST_SECRET } from '../../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  call,
  expectFailure,
  loginOk,
  me,
  newUser,
  OTHER_UA,
  type Pair,
  type Reply,
  rawStatus,
  register,
  startAccountsGateway,
  UA,
} from './support.js';

const CHALLENGE = 'Bearer error="invalid_token"';
const realSigner = hmacSigner(TEST_SECRET);

let gw: TestGateway;
let upstream: RecordingUpstream;
let victim: Pair;
let header: Record<string, unknown>;
let claims: Record<string, unknown>;

async function newSession(): Promise<Pair> {
  const user = newUser();
  expect((await register(gw, user)).status).toBe(201);
  return loginOk(gw, user.email, user.password);
}

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  gw = await startAccountsGateway({
    yaml: `
routes:
  - { name: secure, path: /api/secure, upstream: "${upstream.origin}", auth: required }
  - { name: maybe, path: /api/maybe, upstream: "${upstream.origin}", auth: optional }
`,
  });
  victim = await newSession();
  header = decodePart(victim.access, 0);
  claims = decodePart(victim.access, 1);
});
afterAll(async () => {
  await gw.stop();
  await upstream.close();
});

const nowS = (): number => Math.floor(Date.now() / 1000);
const withClaims = (extra: Record<string, unknown>, drop: string[] = []): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...claims, ...extra };
  for (const k of drop) delete out[k];
  return out;
};
const withHeader = (extra: Record<string, unknown>): Record<string, unknown> => ({ ...header, ...extra });

/** Each attack token, built lazily once the victim's real token exists. */
const ATTACKS: Array<[string, () => string, string]> = [
  ['alg none, empty signature', () => forge(withHeader({ alg: 'none' }), claims, null), 'invalid_token'],
  [
    'alg none, junk signature',
    () => `${forge(withHeader({ alg: 'none' }), claims, null)}AAAA`,
    'invalid_token',
  ],
  ['alg NONE in upper case', () => forge(withHeader({ alg: 'NONE' }), claims, null), 'invalid_token'],
  [
    'HS256 signed with a wrong secret',
    () => forge(header, claims, hmacSigner(WRONG_SECRET)),
    'invalid_token',
  ],
  [
    'HS512 signed with the real secret',
    () => forge(withHeader({ alg: 'HS512' }), claims, realSigner),
    'invalid_token',
  ],
  [
    'tampered payload (roles → admin), original signature',
    () => {
      const [h, , s] = victim.access.split('.');
      return `${h}.${b64(withClaims({ roles: ['admin'] }))}.${s}`;
    },
    'invalid_token',
  ],
  [
    'tampered payload (another sub), original signature',
    () => {
      const [h, , s] = victim.access.split('.');
      return `${h}.${b64(withClaims({ sub: 'f'.repeat(32) }))}.${s}`;
    },
    'invalid_token',
  ],
  ['wrong iss', () => forge(header, withClaims({ iss: 'someone-else' }), realSigner), 'invalid_token'],
  ['wrong aud', () => forge(header, withClaims({ aud: 'another-api' }), realSigner), 'invalid_token'],
  [
    'expired',
    () => forge(header, withClaims({ iat: nowS() - 7_200, exp: nowS() - 3_600 }), realSigner),
    'token_expired',
  ],
  [
    'nbf in the future',
    () => forge(header, withClaims({ nbf: nowS() + 3_600 }), realSigner),
    'invalid_token',
  ],
  ['missing jti', () => forge(header, withClaims({}, ['jti']), realSigner), 'invalid_token'],
  ['missing sid', () => forge(header, withClaims({}, ['sid']), realSigner), 'invalid_token'],
  ['missing exp', () => forge(header, withClaims({}, ['exp']), realSigner), 'invalid_token'],
  ['unknown kid', () => forge(withHeader({ kid: 'not-ours' }), claims, realSigner), 'invalid_token'],
  ['typ JWT instead of at+jwt', () => forge(withHeader({ typ: 'JWT' }), claims, realSigner), 'invalid_token'],
  ['a 5 KB token', () => forge(header, withClaims({ pad: 'x'.repeat(5_000) }), realSigner), 'invalid_token'],
  ['two segments', () => victim.access.split('.').slice(0, 2).join('.'), 'invalid_token'],
];

function expectTokenRefusal(res: Reply, code: string): void {
  expectFailure(res, 401, code);
  expect(res.headers['www-authenticate']).toBe(CHALLENGE);
}

describe('forged and damaged access tokens', () => {
  it.each(ATTACKS)(
    '%s → 401 on a required and an optional route, never forwarded',
    async (_name, make, code) => {
      const before = upstream.requests.length;
      const token = make();
      expectTokenRefusal(await call(gw, 'GET', '/api/secure/x', { token }), code);
      expectTokenRefusal(await call(gw, 'GET', '/api/maybe/x', { token }), code);
      expectTokenRefusal(await me(gw, token), code);
      expect(upstream.requests.length).toBe(before);
    },
  );

  it('the genuine token passes on the same routes (the table above can fail)', async () => {
    const before = upstream.requests.length;
    expect((await call(gw, 'GET', '/api/secure/x', { token: victim.access })).status).toBe(200);
    expect((await call(gw, 'GET', '/api/maybe/x', { token: victim.access })).status).toBe(200);
    expect(upstream.requests.length).toBe(before + 2);
  });

  it('a 100 KB token is refused (400/401/431), never 200 and never forwarded', async () => {
    const before = upstream.requests.length;
    const token = forge(header, withClaims({ pad: 'x'.repeat(100_000) }), realSigner);
    for (const path of ['/api/secure/x', '/api/maybe/x', '/api/users/me']) {
      const res = await rawStatus(
        gw,
        `GET ${path} HTTP/1.1\r\nHost: gw\r\nUser-Agent: ${UA}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
      expect([400, 401, 431]).toContain(res.status);
    }
    expect(upstream.requests.length).toBe(before);
  });
});

describe('schemes and places a token must not come from', () => {
  it.each([
    ['Basic credentials', `Basic ${Buffer.from('alice@example.com:pw').toString('base64')}`],
    ['an unknown scheme', 'Token abc.def.ghi'],
    ['Bearer with no token', 'Bearer '],
    ['Bearer with a space inside the token', 'Bearer abc def'],
    ['a bare token without a scheme', 'abc.def.ghi'],
  ])('%s on an optional route → 401 invalid_token, never anonymous', async (_name, authorization) => {
    const before = upstream.requests.length;
    const res = await call(gw, 'GET', '/api/maybe/x', { headers: { authorization } });
    expectTokenRefusal(res, 'invalid_token');
    expect(upstream.requests.length).toBe(before);
  });

  it('the scheme is case-insensitive (RFC 7235 §2.1)', async () => {
    const res = await call(gw, 'GET', '/api/secure/x', {
      headers: { authorization: `bearer ${victim.access}` },
    });
    expect(res.status).toBe(200);
  });

  it('two Authorization headers → 400 bad_request, even when both are valid', async () => {
    const before = upstream.requests.length;
    for (const path of ['/api/secure/x', '/api/maybe/x', '/api/users/me']) {
      const res = await rawStatus(
        gw,
        `GET ${path} HTTP/1.1\r\nHost: gw\r\nUser-Agent: ${UA}\r\nConnection: close\r\n` +
          `Authorization: Bearer ${victim.access}\r\nAuthorization: Bearer ${victim.access}\r\n\r\n`,
      );
      expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
    }
    expect(upstream.requests.length).toBe(before);
  });

  it.each([
    ['query string', (t: string) => ({ path: `/api/secure/x?access_token=${t}&token=${t}`, headers: {} })],
    [
      'cookie',
      (t: string) => ({ path: '/api/secure/x', headers: { cookie: `access_token=${t}; token=${t}` } }),
    ],
    ['X-Access-Token header', (t: string) => ({ path: '/api/secure/x', headers: { 'x-access-token': t } })],
  ])('a token only in a %s → 401 missing_token with a bare Bearer challenge', async (_name, place) => {
    const before = upstream.requests.length;
    const { path, headers } = place(victim.access);
    const res = await call(gw, 'GET', path, { headers });
    expectFailure(res, 401, 'missing_token');
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(upstream.requests.length).toBe(before);
  });

  it('a token only in the query string of an optional route leaves the caller anonymous', async () => {
    const res = await call(gw, 'GET', `/api/maybe/x?access_token=${victim.access}`);
    expect(res.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers['x-user-id']).toBeUndefined();
  });
});

describe('signature first: an unverified token never acts on a real session', () => {
  it.each([
    ['unsigned (alg none)', () => forge(withHeader({ alg: 'none' }), claims, null)],
    ['signed with a wrong secret', () => forge(header, claims, hmacSigner(WRONG_SECRET))],
    [
      'real signature over a tampered payload',
      () => {
        const [h, , s] = victim.access.split('.');
        return `${h}.${b64(withClaims({ dev: 'attacker-device' }))}.${s}`;
      },
    ],
  ])(
    "a token %s carrying the victim's sub/sid/jti, sent from another User-Agent, does not revoke the victim",
    async (_name, make) => {
      const res = await call(gw, 'GET', '/api/secure/x', { token: make(), ua: OTHER_UA });
      expectTokenRefusal(res, 'invalid_token');
      expect((await me(gw, victim.access, UA)).status).toBe(200);
      expect((await call(gw, 'GET', '/api/secure/x', { token: victim.access })).status).toBe(200);
    },
  );

  it('control: the genuine token from another User-Agent does revoke its session (on_mismatch: revoke)', async () => {
    const other = await newSession();
    expectTokenRefusal(await me(gw, other.access, OTHER_UA), 'device_mismatch');
    expectTokenRefusal(await me(gw, other.access, UA), 'token_revoked');
    // The victim, another user, is untouched.
    expect((await me(gw, victim.access)).status).toBe(200);
  });
});
