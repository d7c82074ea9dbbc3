// Security properties of access-token verification: each attack has a named test asserting code and status.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenRejection } from '../../../gateway/auth/tokens.js';
import {
  b64,
  ed25519Signer,
  es256Signer,
  forge,
  hmacSigner,
  makeService,
  rejection,
  T0_S,
  type TestService,
  validClaims,
} from './tokens-forge.js';

const header = (alg: string, kid: string, extra: Record<string, unknown> = {}) => ({
  alg,
  typ: 'at+jwt',
  kid,
  ...extra,
});

async function expectCode(t: TestService, token: string, code: 'invalid_token' | 'token_expired') {
  const err = await rejection(() => t.service.verifyAccess(token));
  expect(err.code).toBe(code);
  expect(err.status).toBe(401);
  return err;
}

/** The stage that refused it: jose's allow-list, before any key is touched, not a later accident. */
const refusedBy = (err: Error): string | undefined =>
  err.cause instanceof TokenRejection ? err.cause.code : undefined;

describe('access tokens, HS256 configuration', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await makeService('HS256');
  });

  it('accepts a hand-forged token signed with the real key (the forge helper is sound)', async () => {
    const claims = await t.service.verifyAccess(forge(header('HS256', t.kid), validClaims(), t.realSigner));
    expect(claims).toMatchObject({ sub: 'user-1', sid: 'sid-1', jti: 'jti-1', roles: ['user'] });
  });

  it.each(['none', 'None', 'NONE'])('rejects alg "%s" with an empty or a junk signature', async (alg) => {
    await expectCode(t, forge(header(alg, t.kid), validClaims(), null), 'invalid_token');
    const junk = `${b64(header(alg, t.kid))}.${b64(validClaims())}.AAAA`;
    expect(refusedBy(await expectCode(t, junk, 'invalid_token'))).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('rejects an ES256 token presented to an HS256 configuration', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    await expectCode(
      t,
      forge(header('ES256', t.kid), validClaims(), es256Signer(privateKey)),
      'invalid_token',
    );
    await expectCode(
      t,
      forge(header('ES256', t.kid, { jwk }), validClaims(), es256Signer(privateKey)),
      'invalid_token',
    );
  });

  it('rejects a signature re-spelled in the unused bits of its last base64url character', async () => {
    const token = forge(header('HS256', t.kid), validClaims(), t.realSigner);
    // 32-byte HMAC → 43 characters: the last one carries 2 unused low bits. Flip one: same bytes once decoded.
    const last = token.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1]!;
    expect(Buffer.from(respelled.split('.')[2]!, 'base64url')).toEqual(
      Buffer.from(token.split('.')[2]!, 'base64url'),
    );
    await expectCode(t, respelled, 'invalid_token');
  });

  it('rejects exp or iat that are not finite numbers (1e400 parses as Infinity)', async () => {
    const body = JSON.stringify(validClaims()).replace(/"exp":\d+/, '"exp":1e400');
    const signingInput = `${b64(header('HS256', t.kid))}.${Buffer.from(body).toString('base64url')}`;
    const token = `${signingInput}.${t.realSigner(signingInput).toString('base64url')}`;
    await expectCode(t, token, 'invalid_token');
  });

  it('rejects a token issued more than the clock tolerance in the future (a replica with a fast clock)', async () => {
    await expectCode(
      t,
      forge(header('HS256', t.kid), validClaims({ iat: T0_S + 300 }), t.realSigner),
      'invalid_token',
    );
    const slightlyAhead = forge(header('HS256', t.kid), validClaims({ iat: T0_S + 20 }), t.realSigner);
    await expect(t.service.verifyAccess(slightlyAhead)).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('rejects a wrong issuer', async () => {
    await expectCode(
      t,
      forge(header('HS256', t.kid), validClaims({ iss: 'evil' }), t.realSigner),
      'invalid_token',
    );
  });

  it('rejects a wrong audience', async () => {
    await expectCode(
      t,
      forge(header('HS256', t.kid), validClaims({ aud: 'other-app' }), t.realSigner),
      'invalid_token',
    );
  });

  it('answers token_expired beyond the 30 s clock tolerance, and accepts within it', async () => {
    const expired = forge(header('HS256', t.kid), validClaims({ exp: T0_S - 31 }), t.realSigner);
    await expectCode(t, expired, 'token_expired');
    const withinTolerance = forge(header('HS256', t.kid), validClaims({ exp: T0_S - 20 }), t.realSigner);
    await expect(t.service.verifyAccess(withinTolerance)).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('rejects nbf in the future', async () => {
    await expectCode(
      t,
      forge(header('HS256', t.kid), validClaims({ nbf: T0_S + 120 }), t.realSigner),
      'invalid_token',
    );
  });

  it.each([
    ['missing jti', { jti: undefined }],
    ['missing sid', { sid: undefined }],
    ['missing sub', { sub: undefined }],
    ['empty jti', { jti: '' }],
    ['numeric sid', { sid: 42 }],
    ['missing exp', { exp: undefined }],
    ['missing iat', { iat: undefined }],
    ['string exp', { exp: String(T0_S + 900) }],
    ['roles not an array', { roles: 'admin' }],
    ['roles holding a non-string', { roles: ['user', { admin: true }] }],
    ['missing roles', { roles: undefined }],
    ['cnf without jkt', { cnf: {} }],
  ])('rejects a validly signed token with %s', async (_name, change) => {
    const claims = validClaims();
    for (const [k, v] of Object.entries(change)) {
      if (v === undefined) delete claims[k];
      else claims[k] = v;
    }
    await expectCode(t, forge(header('HS256', t.kid), claims, t.realSigner), 'invalid_token');
  });

  it('rejects a tampered payload that keeps the original signature, and it does not hit the cache', async () => {
    const { token } = await t.service.signAccess({ sub: 'user-2', sid: 's2', roles: ['user'] });
    await t.service.verifyAccess(token);
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const tampered = `${h}.${b64({ ...payload, roles: ['admin'] })}.${s}`;
    const before = t.service.cacheStats();
    await expectCode(t, tampered, 'invalid_token');
    expect(t.service.cacheStats().hits).toBe(before.hits);
    await t.service.verifyAccess(token);
    expect(t.service.cacheStats().hits).toBe(before.hits + 1);
  });

  it('the synchronous cache lookup answers only the exact token verified before, never one sharing its signature', async () => {
    const { token } = await t.service.signAccess({ sub: 'user-3', sid: 's3', roles: ['user'] });
    expect(t.service.verifiedBefore(token)).toBeUndefined();
    const claims = await t.service.verifyAccess(token);
    expect(t.service.verifiedBefore(token)).toEqual(claims);
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    // The cache is looked up by the signature segment: a payload re-encoded under the same signature finds
    // the entry and must still be turned away by the whole-token comparison.
    expect(t.service.verifiedBefore(`${h}.${b64({ ...payload, sub: 'admin' })}.${s}`)).toBeUndefined();
    expect(t.service.verifiedBefore(`${h}.${p}x.${s}`)).toBeUndefined();
    expect(t.service.verifiedBefore(`${h}.${p}.${s}`)).toEqual(claims);
  });

  it('rejects a 100 KB token before parsing or looking it up', async () => {
    const big = `${'A'.repeat(50_000)}.${'B'.repeat(50_000)}.${'C'.repeat(400)}`;
    const before = t.service.cacheStats();
    const started = process.hrtime.bigint();
    await expectCode(t, big, 'invalid_token');
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(50);
    expect(t.service.cacheStats().misses).toBe(before.misses);
  });

  it('rejects an oversized token even when its signature is valid', async () => {
    const roles = Array.from({ length: 400 }, (_, i) => `role-${i}`);
    await expectCode(t, forge(header('HS256', t.kid), validClaims({ roles }), t.realSigner), 'invalid_token');
  });

  it.each([
    ['not three parts', 'abc.def'],
    ['four parts', 'a.b.c.d'],
    ['padding', 'YQ==.YQ==.YQ=='],
    ['spaces', 'a b.c.d'],
    ['empty', ''],
  ])('rejects a malformed token (%s)', async (_name, token) => {
    await expectCode(t, token, 'invalid_token');
  });

  it.each([
    ['missing', undefined],
    ['JWT', 'JWT'],
    ['jwt', 'jwt'],
    ['dpop+jwt', 'dpop+jwt'],
  ])('rejects typ %s', async (_name, typ) => {
    const h: Record<string, unknown> = header('HS256', t.kid);
    if (typ === undefined) delete h.typ;
    else h.typ = typ;
    await expectCode(t, forge(h, validClaims(), t.realSigner), 'invalid_token');
  });

  it('accepts typ application/at+jwt (RFC 9068 §2.1 allows the full media type)', async () => {
    const token = forge(header('HS256', t.kid, { typ: 'application/at+jwt' }), validClaims(), t.realSigner);
    await expect(t.service.verifyAccess(token)).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('rejects a missing or unknown kid even with a valid signature', async () => {
    const noKid: Record<string, unknown> = header('HS256', t.kid);
    delete noKid.kid;
    await expectCode(t, forge(noKid, validClaims(), t.realSigner), 'invalid_token');
    await expectCode(t, forge(header('HS256', 'other-kid'), validClaims(), t.realSigner), 'invalid_token');
  });

  it('ignores an embedded jwk / jku header: an attacker secret declared in the header does not verify', async () => {
    const attacker = 'attacker-secret-attacker-secret-attacker!';
    const extra = {
      jwk: { kty: 'oct', k: Buffer.from(attacker).toString('base64url') },
      jku: 'https://evil.test/jwks',
    };
    await expectCode(
      t,
      forge(header('HS256', t.kid, extra), validClaims(), hmacSigner(attacker)),
      'invalid_token',
    );
  });

  it('never puts the raw token or its payload in the error, its message or its cause', async () => {
    const token = forge(
      header('HS256', t.kid),
      validClaims({ iss: 'evil', email: 'victim@x.test' }),
      t.realSigner,
    );
    const err = await rejection(() => t.service.verifyAccess(token));
    const dump = inspect(err, { depth: 10, showHidden: true });
    expect(err.cause).toBeDefined();
    for (const part of token.split('.')) expect(dump).not.toContain(part);
    expect(dump).not.toContain('victim@x.test');
  });
});

describe('access tokens, EdDSA configuration', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await makeService('EdDSA');
  });

  it('accepts a hand-forged token signed with the real key (the forge helper is sound)', async () => {
    await expect(
      t.service.verifyAccess(forge(header('EdDSA', t.kid), validClaims(), t.realSigner)),
    ).resolves.toBeTruthy();
  });

  it.each(['none', 'None', 'NONE'])('rejects alg "%s"', async (alg) => {
    const err = await expectCode(t, `${b64(header(alg, t.kid))}.${b64(validClaims())}.AAAA`, 'invalid_token');
    expect(refusedBy(err)).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('rejects algorithm confusion: HS256 signed with the public key bytes', async () => {
    const publicKey = createPublicKey(createPrivateKey(readFileSync(t.keyFile!, 'utf8')));
    const jwk = publicKey.export({ format: 'jwk' });
    const candidates: (string | Buffer)[] = [
      publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      publicKey.export({ format: 'der', type: 'spki' }),
      Buffer.from(jwk.x!, 'base64url'),
      JSON.stringify(jwk),
      jwk.x!,
    ];
    for (const key of candidates) {
      const err = await expectCode(
        t,
        forge(header('HS256', t.kid), validClaims(), hmacSigner(key)),
        'invalid_token',
      );
      expect(refusedBy(err)).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
    }
  });

  it('rejects an assertion (signed by the assertion key) presented as an access token', async () => {
    const assertion = await t.service.signAssertion({
      aud: 'portcullis',
      sub: 'user-1',
      email: 'a@x.test',
      roles: ['admin'],
      sid: 'sid-1',
    });
    await expectCode(t, assertion, 'invalid_token');
    // Even dressed up as one: right typ, the access kid, valid access claims, but the assertion key signed it.
    const assertionKey = createPrivateKey(readFileSync(join(t.dir, 'assertion-key.pem'), 'utf8'));
    await expectCode(
      t,
      forge(header('EdDSA', t.kid), validClaims(), ed25519Signer(assertionKey)),
      'invalid_token',
    );
  });

  it('ignores an embedded jwk / jku header: the configured key is used', async () => {
    const attacker = generateKeyPairSync('ed25519');
    const extra = { jwk: attacker.publicKey.export({ format: 'jwk' }), jku: 'https://evil.test/jwks' };
    await expectCode(
      t,
      forge(header('EdDSA', t.kid, extra), validClaims(), ed25519Signer(attacker.privateKey)),
      'invalid_token',
    );
    // Same header, real key: accepted, so the header is ignored rather than merely refused.
    await expect(
      t.service.verifyAccess(forge(header('EdDSA', t.kid, extra), validClaims(), t.realSigner)),
    ).resolves.toMatchObject({
      sub: 'user-1',
    });
  });

  it('rejects an ES256 token presented to an EdDSA configuration', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expectCode(
      t,
      forge(header('ES256', t.kid), validClaims(), es256Signer(privateKey)),
      'invalid_token',
    );
  });
});
