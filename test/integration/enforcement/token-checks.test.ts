// The authenticate stage before everything else: a token's signature is checked before any claim is
// used (the original read the jti of an unsigned token and revoked it), and a bad token is never anonymous.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, forge, hmacSigner } from '../../gateway/auth/tokens-forge.js';
import { TEST_SECRET, type TestGateway } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { flipSignature } from '../../support/tamper.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import {
  auditTypes,
  expectFailure,
  loginOk,
  OTHER_UA,
  registerOk,
  routesYaml,
  type Session,
  send,
  startRedisGateway,
  UA,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  gw = await startRedisGateway({ redis: redis.url, db: 0, yaml: routesYaml(upstream.origin) });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([redis?.stop(), upstream?.close()]);
});

type Claims = Record<string, unknown>;
const parts = (token: string): string[] => token.split('.');
const decode = (token: string, i: 0 | 1): Claims =>
  JSON.parse(Buffer.from(parts(token)[i]!, 'base64url').toString('utf8')) as Claims;
const claimsOf = (token: string): Claims => decode(token, 1);
/** Signed with the gateway's real key and the header it uses itself. */
const resign = (token: string, claims: Claims): string =>
  forge(decode(token, 0), claims, hmacSigner(TEST_SECRET));

/** Tokens carrying the victim's real sub, sid and jti that the gateway did not sign. */
const forgeries: Array<[string, (victim: string) => string]> = [
  ['unsigned (alg none)', (v) => forge({ alg: 'none', typ: 'JWT' }, claimsOf(v), null)],
  [
    'alg none with the original signature kept',
    (v) => `${b64({ alg: 'none', typ: 'JWT' })}.${parts(v)[1]}.${parts(v)[2]}`,
  ],
  [
    'HS256 with another secret',
    (v) => forge({ alg: 'HS256', typ: 'JWT' }, claimsOf(v), hmacSigner('x'.repeat(48))),
  ],
  ['HS256 with an empty signature', (v) => `${parts(v)[0]}.${parts(v)[1]}.`],
  [
    'the real signature over changed claims (roles: admin)',
    (v) => `${parts(v)[0]}.${b64({ ...claimsOf(v), roles: ['admin'] })}.${parts(v)[2]}`,
  ],
  ['a flipped signature byte', flipSignature],
];

async function victim(): Promise<{ id: string; session: Session }> {
  const { id, email } = await registerOk(gw);
  return { id, session: await loginOk(gw, email) };
}

async function expectVictimUnharmed(id: string, session: Session): Promise<void> {
  const check = await send(gw, 'GET', '/api/orders/victim', { token: session.access, ua: UA });
  expect(check.status, check.text).toBe(200);
  expect(await gw.services.state.listUserSessions(id)).toHaveLength(1);
}

describe('signature is checked before claims', () => {
  it.each(forgeries)(
    "signature is checked before claims: %s with the victim's sub, sid, jti and another User-Agent is 401 invalid_token and revokes nothing",
    async (_name, make) => {
      const { id, session } = await victim();
      const forged = make(session.access);
      expect(claimsOf(session.access).jti).toBeDefined();
      const before = upstream.requests.length;
      for (const [method, path] of [
        ['GET', '/api/orders'],
        ['GET', '/public'],
        ['GET', '/maybe'],
        ['POST', '/api/auth/logout'],
        ['GET', '/api/users/me'],
      ] as const) {
        const reply = await send(gw, method, path, { token: forged, ua: OTHER_UA });
        expectFailure(reply, 401, 'invalid_token');
        expect(reply.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      }
      expect(upstream.requests.length).toBe(before);
      await expectVictimUnharmed(id, session);
      const types = await auditTypes(gw);
      expect(types).not.toContain('device_mismatch');
      expect(types).not.toContain('logout');
    },
  );

  it('an expired token signed with the real key is 401 token_expired and does not revoke the session either', async () => {
    const { id, session } = await victim();
    const now = Math.floor(Date.now() / 1000);
    const expired = resign(session.access, { ...claimsOf(session.access), iat: now - 3600, exp: now - 1800 });
    expectFailure(
      await send(gw, 'GET', '/api/orders', { token: expired, ua: OTHER_UA }),
      401,
      'token_expired',
    );
    expectFailure(
      await send(gw, 'POST', '/api/auth/logout', { token: expired, ua: UA }),
      401,
      'token_expired',
    );
    await expectVictimUnharmed(id, session);
  });

  it('a correctly signed token for a session that never existed is 401 token_revoked', async () => {
    const { session } = await victim();
    const made = resign(session.access, { ...claimsOf(session.access), sid: 'no-such-session' });
    expectFailure(await send(gw, 'GET', '/api/orders', { token: made }), 401, 'token_revoked');
  });
});

describe('a bad token is never anonymous', () => {
  it.each([
    ['public', '/public'],
    ['optional', '/maybe'],
  ])('on a %s route a malformed Bearer token is 401 invalid_token, not forwarded', async (_mode, path) => {
    const before = upstream.requests.length;
    for (const header of [
      'Bearer not-a-jwt',
      'Bearer a.b.c',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      'Bearer x y',
    ]) {
      const reply = await send(gw, 'GET', path, { headers: { authorization: header } });
      expect(reply.status, header).toBe(401);
      expect(reply.body?.code).toBe('invalid_token');
    }
    expect(upstream.requests.length).toBe(before);
    // Without any token the same routes serve anonymous callers.
    expect((await send(gw, 'GET', path)).status).toBe(200);
  });

  it('a revoked token on an optional route is 401 token_revoked, not served anonymously', async () => {
    const { session } = await victim();
    await send(gw, 'POST', '/api/auth/logout', { token: session.access });
    expectFailure(await send(gw, 'GET', '/maybe', { token: session.access }), 401, 'token_revoked');
  });

  it('two Authorization headers are 400 bad_request', async () => {
    const { session } = await victim();
    const reply = await send(gw, 'GET', '/api/orders', {
      headers: {
        authorization: [`Bearer ${session.access}`, `Bearer ${session.access}`] as unknown as string,
      },
    });
    expectFailure(reply, 400, 'bad_request');
  });
});
