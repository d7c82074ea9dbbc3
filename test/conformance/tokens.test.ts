// Access-token attacks (RFC 8725) against two real gateways, HS256 and EdDSA: alg none, algorithm
// confusion both ways, embedded keys, remote key URLs (a canary that must get no connection), kid
// tricks, damaged signatures, re-encodings, duplicate and mistyped claims, huge tokens, tokens in the
// wrong place and Authorization spellings. Every refusal is checked at the client AND the upstream.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  b64,
  decodePart,
  ed25519Signer,
  es256Signer,
  forge,
  hmacSigner,
} from '../gateway/auth/tokens-forge.js';
import { call, type Pair, type Reply, registerAndLogin } from '../integration/accounts/support.js';
import { TEST_SECRET } from '../support/gateway.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import {
  converse,
  expectRawEnvelope,
  head,
  type RecordingUpstream,
  since,
  startGateway,
  type TestGateway,
  UA,
  uniq,
} from './support.js';

const CHALLENGE = 'Bearer error="invalid_token"';
const ROUTES = (origin: string) => `
routes:
  - { name: secure, path: /secure, upstream: "${origin}", auth: required }
  - { name: maybe, path: /maybe, upstream: "${origin}", auth: optional }
`;

let up: RecordingUpstream;
let canary: Server;
let canaryUrl: string;
let canaryHits = 0;
let hs: TestGateway;
let ed: TestGateway;
let hsVictim: Pair;
let edVictim: Pair;
let edPrivate: KeyObject;
const attacker = generateKeyPairSync('ed25519');
const attackerEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const realHmac = hmacSigner(TEST_SECRET);

beforeAll(async () => {
  canary = createServer((_req, res) => res.end('{"keys":[]}'));
  canary.on('connection', () => {
    canaryHits += 1;
  });
  await new Promise<void>((done) => canary.listen(0, '127.0.0.1', done));
  canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;
  up = await startRecordingUpstream();
  hs = await startGateway(ROUTES(up.origin));
  const keyFile = join(hs.dir, 'access-eddsa.pem');
  const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  writeFileSync(keyFile, pem, { mode: 0o600 });
  edPrivate = createPrivateKey(pem);
  ed = await startGateway(ROUTES(up.origin), {
    base: { tokens: `algorithm: EdDSA, private_key_file: "${keyFile}"` },
  });
  [hsVictim, edVictim] = await Promise.all([
    registerAndLogin(hs).then((r) => r.pair),
    registerAndLogin(ed).then((r) => r.pair),
  ]);
});

afterAll(async () => {
  await Promise.all([hs?.stop(), ed?.stop(), up?.close()]);
  canary?.closeAllConnections();
  await new Promise<void>((done) => (canary ? canary.close(() => done()) : done()));
});

const H = () => decodePart(hsVictim.access, 0);
const C = () => decodePart(hsVictim.access, 1);
const EH = () => decodePart(edVictim.access, 0);
const EC = () => decodePart(edVictim.access, 1);
const nowS = (): number => Math.floor(Date.now() / 1000);

/** Signs a hand-written JSON text (duplicate members survive) as the payload segment. */
function rawPayload(header: object, payloadJson: string, signer: (input: string) => Buffer): string {
  const input = `${b64(header)}.${Buffer.from(payloadJson).toString('base64url')}`;
  return `${input}.${signer(input).toString('base64url')}`;
}

function rawHeaderToken(headerJson: string, payload: object, signer: (input: string) => Buffer): string {
  const input = `${Buffer.from(headerJson).toString('base64url')}.${b64(payload)}`;
  return `${input}.${signer(input).toString('base64url')}`;
}

function payloadJson(claims: Record<string, unknown>, extra: string): string {
  return `${JSON.stringify(claims).slice(0, -1)},${extra}}`;
}

/** The last base64url character with one of its unused low bits flipped: same bytes, other spelling. */
function respell(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(segment.at(-1)!);
  return `${segment.slice(0, -1)}${alphabet[last ^ 1]}`;
}

function replaceSegment(token: string, index: number, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

async function expectRefused(gw: TestGateway, token: string, code: string): Promise<void> {
  const mark = up.requests.length;
  const path = `/secure/${uniq('t')}`;
  const results: Reply[] = [
    await call(gw, 'GET', path, { token }),
    await call(gw, 'GET', `/maybe/${uniq('t')}`, { token }),
  ];
  for (const res of results) {
    expect({ status: res.status, code: res.body?.code }).toEqual({ status: 401, code });
    expect(res.headers['www-authenticate']).toBe(CHALLENGE);
  }
  expect(since(up, mark)).toEqual([]);
}

type Make = () => string;

describe('alg none and algorithm confusion', () => {
  const noneCases: Array<[string, Make]> = [];
  for (const alg of ['none', 'None', 'NONE', 'nOnE', 'none ', '']) {
    noneCases.push([`alg "${alg}", empty signature`, () => forge({ ...H(), alg }, C(), null)]);
    noneCases.push([
      `alg "${alg}", the real signature kept`,
      () => replaceSegment(hsVictim.access, 0, b64({ ...H(), alg })),
    ]);
  }
  noneCases.push(['alg missing', () => forge({ typ: 'at+jwt', kid: H().kid }, C(), realHmac)]);
  noneCases.push(['alg null', () => forge({ ...H(), alg: null }, C(), realHmac)]);
  noneCases.push(['alg as an array', () => forge({ ...H(), alg: ['HS256'] }, C(), realHmac)]);

  it.each(noneCases)('HS256 gateway: %s → 401 invalid_token, never forwarded', async (_n, make) => {
    await expectRefused(hs, make(), 'invalid_token');
  });

  it.each(noneCases.slice(0, 4))('EdDSA gateway: %s → 401 invalid_token', async (_n, make) => {
    // The same shapes, with the EdDSA victim's header and claims.
    const token = make().replace(/^[^.]*\.[^.]*/, (m) => {
      const [h] = m.split('.');
      const header = JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>;
      return `${b64({ ...EH(), alg: header.alg })}.${b64(EC())}`;
    });
    await expectRefused(ed, token, 'invalid_token');
  });

  const edPublicForms = (): Array<[string, Buffer]> => {
    const x = Buffer.from(String(edPrivate.export({ format: 'jwk' }).x), 'base64url');
    const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), x]);
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    const published = ed.services.tokens.jwks().keys.find((k) => k.kid === EH().kid)!;
    return [
      ['the PEM text of the public key', Buffer.from(pem)],
      ['the raw 32-byte public key', x],
      ['the base64url x of the JWK', Buffer.from(x.toString('base64url'))],
      ['the published JWK as JSON', Buffer.from(JSON.stringify(published))],
      ['the DER SPKI', der],
    ];
  };

  it.each([0, 1, 2, 3, 4])(
    'EdDSA gateway: HS256 token HMAC-signed with public key form #%i → 401 invalid_token',
    async (i) => {
      const [, key] = edPublicForms()[i]!;
      const token = forge({ ...EH(), alg: 'HS256' }, EC(), hmacSigner(key));
      await expectRefused(ed, token, 'invalid_token');
    },
  );

  it.each<[string, Make]>([
    [
      'EdDSA signed with an attacker key',
      () => forge({ ...H(), alg: 'EdDSA' }, C(), ed25519Signer(attacker.privateKey)),
    ],
    ['EdDSA "signed" with the HMAC of the secret', () => forge({ ...H(), alg: 'EdDSA' }, C(), realHmac)],
    [
      'ES256 signed with an attacker key',
      () => forge({ ...H(), alg: 'ES256' }, C(), es256Signer(attackerEc.privateKey)),
    ],
    ['RS256 header, HMAC signature', () => forge({ ...H(), alg: 'RS256' }, C(), realHmac)],
    ['HS512 with the real secret', () => forge({ ...H(), alg: 'HS512' }, C(), realHmac)],
    ['HS384 with the real secret', () => forge({ ...H(), alg: 'HS384' }, C(), realHmac)],
    ['hs256 in lower case, real secret', () => forge({ ...H(), alg: 'hs256' }, C(), realHmac)],
  ])('HS256 gateway: %s → 401 invalid_token', async (_n, make) => {
    await expectRefused(hs, make(), 'invalid_token');
  });

  it('EdDSA gateway: the EdDSA victim token with alg swapped to HS256 and the HMAC of the assertion key id → 401', async () => {
    const token = forge({ ...EH(), alg: 'HS256' }, EC(), hmacSigner(String(EH().kid)));
    await expectRefused(ed, token, 'invalid_token');
  });

  it('controls: both genuine tokens pass on both routes (the tables above can fail)', async () => {
    const mark = up.requests.length;
    for (const [gw, pair] of [
      [hs, hsVictim],
      [ed, edVictim],
    ] as const) {
      expect((await call(gw, 'GET', '/secure/ok', { token: pair.access })).status).toBe(200);
      expect((await call(gw, 'GET', '/maybe/ok', { token: pair.access })).status).toBe(200);
    }
    expect(since(up, mark)).toHaveLength(4);
  });
});

describe('keys named by the token are never used or fetched', () => {
  const attackerJwk = () => attacker.publicKey.export({ format: 'jwk' });
  it.each<[string, () => TestGateway, Make]>([
    [
      'EdDSA: embedded jwk of the attacker key',
      () => ed,
      () => forge({ ...EH(), jwk: attackerJwk() }, EC(), ed25519Signer(attacker.privateKey)),
    ],
    [
      'EdDSA: embedded jwk, kid pointing at it',
      () => ed,
      () =>
        forge(
          { ...EH(), kid: 'attacker', jwk: { ...attackerJwk(), kid: 'attacker' } },
          EC(),
          ed25519Signer(attacker.privateKey),
        ),
    ],
    [
      'HS256: embedded oct jwk with the attacker secret',
      () => hs,
      () =>
        forge(
          { ...H(), jwk: { kty: 'oct', k: Buffer.from('attacker').toString('base64url') } },
          C(),
          hmacSigner('attacker'),
        ),
    ],
    [
      'EdDSA: jku at the canary, real kid',
      () => ed,
      () => forge({ ...EH(), jku: `${canaryUrl}/jwks.json` }, EC(), ed25519Signer(attacker.privateKey)),
    ],
    [
      'EdDSA: jku at the canary, kid unknown',
      () => ed,
      () =>
        forge(
          { ...EH(), kid: 'k1', jku: `${canaryUrl}/jwks.json` },
          EC(),
          ed25519Signer(attacker.privateKey),
        ),
    ],
    [
      'HS256: jku at the canary',
      () => hs,
      () => forge({ ...H(), jku: `${canaryUrl}/jwks.json` }, C(), hmacSigner('attacker')),
    ],
    [
      'EdDSA: x5u at the canary',
      () => ed,
      () => forge({ ...EH(), x5u: `${canaryUrl}/cert.pem` }, EC(), ed25519Signer(attacker.privateKey)),
    ],
    [
      'EdDSA: x5c with a junk certificate',
      () => ed,
      () =>
        forge(
          { ...EH(), x5c: [Buffer.from('not a cert').toString('base64')] },
          EC(),
          ed25519Signer(attacker.privateKey),
        ),
    ],
    [
      'HS256: kid is the canary URL',
      () => hs,
      () => forge({ ...H(), kid: `${canaryUrl}/key` }, C(), hmacSigner('attacker')),
    ],
  ])('%s → 401 invalid_token and the canary gets no connection', async (_n, gw, make) => {
    await expectRefused(gw(), make(), 'invalid_token');
    expect(canaryHits).toBe(0);
  });

  const kids: Array<[string, () => unknown]> = [
    ['path traversal to /dev/null', () => '../../../../../../../../dev/null'],
    ['absolute /dev/null', () => '/dev/null'],
    ['traversal to the assertion key', () => '../data/assertion-key.pem'],
    ['SQL injection', () => "x' UNION SELECT 'attacker' --"],
    ['shell injection', () => 'k|id;$(id)`id`'],
    ['NUL inside', () => `${H().kid}\u0000x`],
    ['a number', () => 0],
    ['an object', () => ({ $ne: null })],
    ['an array holding the real kid', () => [H().kid]],
    ['null', () => null],
    ['8 KB long', () => 'k'.repeat(8_000)],
  ];
  it.each(kids)('HS256: kid %s, signed with an empty key → 401 invalid_token', async (_n, kid) => {
    await expectRefused(hs, forge({ ...H(), kid: kid() }, C(), hmacSigner('')), 'invalid_token');
  });

  it.each(kids)('HS256: kid %s, signed with the real secret → 401 invalid_token', async (_n, kid) => {
    await expectRefused(hs, forge({ ...H(), kid: kid() }, C(), realHmac), 'invalid_token');
  });

  it('the real kid with an empty-key HMAC (the /dev/null trick) → 401 invalid_token', async () => {
    await expectRefused(hs, forge(H(), C(), hmacSigner('')), 'invalid_token');
  });
});

describe('damaged and re-encoded tokens', () => {
  const sig = () => hsVictim.access.split('.')[2]!;
  const cases: Array<[string, Make]> = [
    ['signature stripped, dot kept', () => replaceSegment(hsVictim.access, 2, '')],
    ['signature and its dot stripped', () => hsVictim.access.split('.').slice(0, 2).join('.')],
    ['signature without its last character', () => replaceSegment(hsVictim.access, 2, sig().slice(0, -1))],
    ['signature without its last 4 characters', () => replaceSegment(hsVictim.access, 2, sig().slice(0, -4))],
    ['half a signature', () => replaceSegment(hsVictim.access, 2, sig().slice(0, 21))],
    ['signature with an extra character', () => replaceSegment(hsVictim.access, 2, `${sig()}A`)],
    ['signature of zero bytes', () => replaceSegment(hsVictim.access, 2, 'A'.repeat(43))],
    ['signature re-spelled (unused low bits set)', () => replaceSegment(hsVictim.access, 2, respell(sig()))],
    ['signature padded with =', () => `${hsVictim.access}=`],
    [
      'signature in standard base64',
      () => replaceSegment(hsVictim.access, 2, Buffer.from(sig(), 'base64url').toString('base64')),
    ],
    [
      'payload padded with ==',
      () => replaceSegment(hsVictim.access, 1, `${hsVictim.access.split('.')[1]}==`),
    ],
    [
      'payload re-spelled (unused low bits set)',
      () => replaceSegment(hsVictim.access, 1, respell(hsVictim.access.split('.')[1]!)),
    ],
    [
      'payload re-serialised with spaces',
      () =>
        replaceSegment(hsVictim.access, 1, Buffer.from(JSON.stringify(C(), null, 1)).toString('base64url')),
    ],
    [
      'payload with a \\u escape for the same sub',
      () =>
        replaceSegment(
          hsVictim.access,
          1,
          Buffer.from(JSON.stringify(C()).replace('"sub":"', '"sub":"\\u00')).toString('base64url'),
        ),
    ],
    ['header re-spelled', () => replaceSegment(hsVictim.access, 0, respell(hsVictim.access.split('.')[0]!))],
    ['four segments', () => `${hsVictim.access}.${sig()}`],
    ['five segments (JWE-shaped)', () => `${hsVictim.access}..AAAA`],
    ['whitespace inside the token', () => hsVictim.access.replace('.', '. ')],
    ['a token made of dots', () => '...'],
    [
      'non-JSON header',
      () =>
        `${Buffer.from('not json').toString('base64url')}.${hsVictim.access.split('.').slice(1).join('.')}`,
    ],
    ['payload that is a JSON array', () => forge(H(), [C()], realHmac)],
    ['payload that is a JSON string', () => forge(H(), 'sub' as unknown as object, realHmac)],
  ];
  it.each(cases)('%s → 401 invalid_token, never forwarded', async (_n, make) => {
    await expectRefused(hs, make(), 'invalid_token');
  });
});

describe('duplicate and mistyped claims (signed with the real key)', () => {
  it('duplicate exp: the lexically last one counts (RFC 7519 §4), here expired → 401 token_expired', async () => {
    const json = payloadJson(C(), `"exp":${nowS() - 3_600}`);
    await expectRefused(hs, rawPayload(H(), json, realHmac), 'token_expired');
  });

  it('duplicate sub: the last one (another user) is judged against the session → 401, never forwarded', async () => {
    const json = payloadJson(C(), `"sub":"${'f'.repeat(32)}"`);
    const token = rawPayload(H(), json, realHmac);
    const res = await call(hs, 'GET', '/secure/dup-sub', { token });
    expect(res.status).toBe(401);
    expect(['token_revoked', 'invalid_token']).toContain(res.body?.code);
  });

  it('duplicate alg in the header, none last → 401 invalid_token', async () => {
    const h = JSON.stringify(H());
    const token = rawHeaderToken(`${h.slice(0, -1)},"alg":"none"}`, C(), realHmac);
    await expectRefused(hs, token, 'invalid_token');
  });

  const mistyped: Array<[string, Record<string, unknown>]> = [
    ['exp as a numeric string', { exp: String(nowS() + 600) }],
    ['exp null', { exp: null }],
    ['exp an array', { exp: [nowS() + 600] }],
    ['exp true', { exp: true }],
    ['iat as a string', { iat: String(nowS()) }],
    ['nbf as a string', { nbf: 'now' }],
    ['sub a number', { sub: 12345 }],
    ['sub an array', { sub: ['someone'] }],
    ['sub an object', { sub: { id: 'someone' } }],
    ['sub empty', { sub: '' }],
    ['sid a number', { sid: 1 }],
    ['jti null', { jti: null }],
    ['roles a string', { roles: 'admin' }],
    ['roles with a number', { roles: ['user', 1] }],
    ['aud a number', { aud: 5 }],
    ['iss an array', { iss: ['portcullis'] }],
    ['dev an empty string', { dev: '' }],
  ];
  it.each(mistyped)('%s → 401 invalid_token', async (_n, extra) => {
    await expectRefused(hs, forge(H(), { ...C(), ...extra }, realHmac), 'invalid_token');
  });

  it.each([
    ['exp 1e400 (Infinity once parsed)', '"exp":1e400'],
    ['iat 1e400', '"iat":1e400'],
    ['exp -1e400', '"exp":-1e400'],
  ])('%s → 401, a non-finite date never validates', async (_n, extra) => {
    const claims = { ...C() } as Record<string, unknown>;
    const key = extra.slice(1, 4);
    delete claims[key];
    const res = await call(hs, 'GET', '/secure/inf', {
      token: rawPayload(H(), payloadJson(claims, extra), realHmac),
    });
    expect(res.status).toBe(401);
    expect(['invalid_token', 'token_expired']).toContain(res.body?.code);
  });

  it('iat 5 minutes in the future (beyond the 30 s tolerance) → 401 invalid_token', async () => {
    await expectRefused(hs, forge(H(), { ...C(), iat: nowS() + 300 }, realHmac), 'invalid_token');
  });
});

describe('huge tokens', () => {
  it.each([
    ['just over 4 KB', 4_200],
    ['10 KB', 7_500],
  ])('a %s token → 401 invalid_token, never forwarded', async (_n, size) => {
    const token = forge(H(), { ...C(), pad: 'x'.repeat(size) }, realHmac);
    await expectRefused(hs, token, 'invalid_token');
  });

  it('a 64 KB token → 431 headers_too_large, connection closed, never forwarded', async () => {
    const mark = up.requests.length;
    const token = forge(H(), { ...C(), pad: 'x'.repeat(64_000) }, realHmac);
    const conv = await converse(hs.port, head('GET', '/secure/huge', [`Authorization: Bearer ${token}`]));
    expectRawEnvelope(conv.responses[0], 431, 'headers_too_large');
    expect(conv.closed).toBe(true);
    expect(since(up, mark)).toEqual([]);
  });
});

describe('tokens only in places the gateway does not read', () => {
  const places: Array<[string, (t: string) => { path: string; headers: Record<string, string> }]> = [
    ['?access_token=', (t) => ({ path: `/secure/q?access_token=${t}`, headers: {} })],
    ['?token= and ?jwt=', (t) => ({ path: `/secure/q?token=${t}&jwt=${t}`, headers: {} })],
    ['Cookie access_token', (t) => ({ path: '/secure/c', headers: { cookie: `access_token=${t}` } })],
    [
      'Cookie Authorization=Bearer',
      (t) => ({ path: '/secure/c', headers: { cookie: `Authorization=Bearer ${t}` } }),
    ],
    ['X-Access-Token', (t) => ({ path: '/secure/h', headers: { 'x-access-token': t } })],
    ['X-Auth-Token', (t) => ({ path: '/secure/h', headers: { 'x-auth-token': t } })],
    [
      'Proxy-Authorization',
      (t) => ({ path: '/secure/h', headers: { 'proxy-authorization': `Bearer ${t}` } }),
    ],
    [
      'X-Forwarded-Authorization',
      (t) => ({ path: '/secure/h', headers: { 'x-forwarded-authorization': `Bearer ${t}` } }),
    ],
  ];
  it.each(places)(
    '%s on a required route → 401 missing_token with a bare Bearer challenge',
    async (_n, place) => {
      const mark = up.requests.length;
      const { path, headers } = place(hsVictim.access);
      const res = await call(hs, 'GET', path, { headers });
      expect({ status: res.status, code: res.body?.code }).toEqual({ status: 401, code: 'missing_token' });
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(since(up, mark)).toEqual([]);
    },
  );

  it.each(places.slice(0, 4))(
    '%s on an optional route → anonymous: no identity reaches the upstream',
    async (_n, place) => {
      const mark = up.requests.length;
      const { path, headers } = place(hsVictim.access);
      const res = await call(hs, 'GET', path.replace('/secure', '/maybe'), { headers });
      expect(res.status).toBe(200);
      const [seen] = since(up, mark);
      expect(seen?.headers['x-user-id']).toBeUndefined();
      expect(seen?.headers['x-session-id']).toBeUndefined();
    },
  );
});

describe('Authorization spellings (RFC 7235 §2.1, RFC 6750 §2.1: "Bearer" 1*SP b64token)', () => {
  // Accepted: the scheme in any case, one or more spaces (1*SP), and the optional whitespace around
  // a field value that HTTP itself strips (RFC 9110 §5.5).
  const accepted: Array<[string, (t: string) => string]> = [
    ['Bearer <t>', (t) => `Bearer ${t}`],
    ['bearer <t>', (t) => `bearer ${t}`],
    ['BEARER <t>', (t) => `BEARER ${t}`],
    ['BeArEr <t>', (t) => `BeArEr ${t}`],
    ['two spaces', (t) => `Bearer  ${t}`],
    ['leading and trailing OWS', (t) => ` Bearer ${t} \t`],
  ];
  it.each(accepted)('%s → accepted, forwarded with our identity', async (_n, value) => {
    const mark = up.requests.length;
    const conv = await converse(
      hs.port,
      head('GET', '/secure/spell', [
        `User-Agent: ${UA}`,
        `Authorization: ${value(hsVictim.access)}`,
        'Connection: close',
      ]),
    );
    expect(conv.responses[0]?.status).toBe(200);
    const seen = since(up, mark);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers['x-user-id']).toBe(C().sub);
  });

  const refused: Array<[string, (t: string) => string]> = [
    ['a tab after the scheme', (t) => `Bearer\t${t}`],
    ['no space', (t) => `Bearer${t}`],
    ['a second word after the token', (t) => `Bearer ${t} extra`],
    ['two credentials in one header', (t) => `Bearer ${t}, Bearer ${t}`],
    ['the token quoted', (t) => `Bearer "${t}"`],
    ['Bearer=<t>', (t) => `Bearer=${t}`],
    ['Bearer: <t>', (t) => `Bearer: ${t}`],
    ['a trailing semicolon', (t) => `Bearer ${t};`],
    ['a trailing =', (t) => `Bearer ${t}=`],
    ['the scheme spaced out', (t) => `B e a r e r ${t}`],
    ['%20 instead of a space', (t) => `Bearer%20${t}`],
    ['a no-break space (obs-text)', (t) => `Bearer\u00a0${t}`],
    ['Basic', (t) => `Basic ${t}`],
    ['Token', (t) => `Token ${t}`],
    ['DPoP in user-agent mode', (t) => `DPoP ${t}`],
    ['a bare token', (t) => t],
    ['the scheme alone', () => 'Bearer'],
    ['an empty value', () => ''],
  ];
  it.each(refused)('%s → 401 invalid_token on an optional route, never anonymous', async (_n, value) => {
    const mark = up.requests.length;
    const line = Buffer.from(`Authorization: ${value(hsVictim.access)}`, 'latin1');
    const req = Buffer.concat([
      Buffer.from(`GET /maybe/spell HTTP/1.1\r\nHost: gw.test\r\nUser-Agent: ${UA}\r\nConnection: close\r\n`),
      line,
      Buffer.from('\r\n\r\n'),
    ]);
    const conv = await converse(hs.port, req);
    expectRawEnvelope(conv.responses[0], 401, 'invalid_token');
    expect(conv.responses[0]!.headers['www-authenticate']).toBe(CHALLENGE);
    expect(since(up, mark)).toEqual([]);
  });

  it('two Authorization headers → 400 bad_request, never forwarded', async () => {
    const mark = up.requests.length;
    const t = hsVictim.access;
    const conv = await converse(
      hs.port,
      head('GET', '/maybe/two', [
        `Authorization: Bearer ${t}`,
        `authorization: Bearer ${t}`,
        'Connection: close',
      ]),
    );
    expectRawEnvelope(conv.responses[0], 400, 'bad_request');
    expect(since(up, mark)).toEqual([]);
  });

  it('a token for another gateway (EdDSA victim at the HS256 gateway) → 401 invalid_token', async () => {
    await expectRefused(hs, edVictim.access, 'invalid_token');
    expect(canaryHits).toBe(0);
  });
});
