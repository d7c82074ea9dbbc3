// Functional behaviour of the token service: round trips per algorithm, the verified-token cache,
// the JWK Set, the identity assertion (verified with node:crypto alone) and the persisted assertion key.
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKeygen } from '../../../gateway/auth/keygen.js';
import { createTokenService } from '../../../gateway/auth/tokens.js';
import { decodePart, makeService, rejection, T0, T0_S, tempDir, tokensConfig } from './tokens-forge.js';

const BASE64URL_128 = /^[A-Za-z0-9_-]{22}$/;

function keygen(algorithm: 'EdDSA' | 'ES256', file: string): { kid: string } {
  let printed = '';
  const code = runKeygen(['--algorithm', algorithm, '--out', file], {
    stdout: { write: (s: string) => (printed += s) },
    stderr: { write: () => true },
  });
  if (code !== 0) throw new Error(`keygen exited ${code}`);
  return JSON.parse(printed);
}

describe.each(['HS256', 'EdDSA', 'ES256'] as const)('%s round trip', (algorithm) => {
  it('signs an RFC 9068 access token and verifies it back to frozen claims', async () => {
    const { service, kid } = await makeService(algorithm);
    const signed = await service.signAccess({
      sub: 'u1',
      sid: 's1',
      roles: ['user', 'admin'],
      dev: 'ua-hash',
    });
    expect(decodePart(signed.token, 0)).toEqual({ alg: algorithm, typ: 'at+jwt', kid });
    const payload = decodePart(signed.token, 1);
    expect(payload).toMatchObject({ iss: 'portcullis', aud: 'portcullis', iat: T0_S, exp: T0_S + 900 });
    expect(signed.exp).toBe(T0_S + 900);
    expect(signed.jti).toMatch(BASE64URL_128);
    expect(payload.jti).toBe(signed.jti);

    const claims = await service.verifyAccess(signed.token);
    expect(claims).toEqual({
      sub: 'u1',
      sid: 's1',
      jti: signed.jti,
      roles: ['user', 'admin'],
      dev: 'ua-hash',
      iat: T0_S,
      exp: T0_S + 900,
    });
    expect(Object.isFrozen(claims)).toBe(true);
    expect(Object.isFrozen(claims.roles)).toBe(true);
  });

  it('carries a DPoP confirmation (cnf.jkt) and gives each token its own jti', async () => {
    const { service } = await makeService(algorithm);
    const a = await service.signAccess({ sub: 'u1', sid: 's1', roles: [], cnf: { jkt: 'thumb' } });
    const b = await service.signAccess({ sub: 'u1', sid: 's1', roles: [] });
    expect(a.jti).not.toBe(b.jti);
    expect((await service.verifyAccess(a.token)).cnf).toEqual({ jkt: 'thumb' });
    expect((await service.verifyAccess(b.token)).cnf).toBeUndefined();
  });
});

describe('verified-token cache', () => {
  it('answers the second verify of the same token from the cache', async () => {
    const { service } = await makeService('HS256');
    const { token } = await service.signAccess({ sub: 'u1', sid: 's1', roles: [] });
    const first = await service.verifyAccess(token);
    expect(service.cacheStats()).toMatchObject({ hits: 0, misses: 1, size: 1 });
    const second = await service.verifyAccess(token);
    expect(second).toBe(first);
    expect(service.cacheStats()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('does not honour an entry once exp has passed, even inside the clock tolerance', async () => {
    const { service, clock } = await makeService('HS256');
    const { token, exp } = await service.signAccess({ sub: 'u1', sid: 's1', roles: [] });
    await service.verifyAccess(token);
    clock.set(exp * 1000 + 1_000); // past exp, within the 30 s tolerance: a fresh verify still accepts it
    await service.verifyAccess(token);
    expect(service.cacheStats()).toMatchObject({ hits: 0, misses: 2 });
    clock.set(exp * 1000 + 31_000);
    expect((await rejection(() => service.verifyAccess(token))).code).toBe('token_expired');
  });

  it('is bounded: the oldest entry is evicted first', async () => {
    const { service } = await makeService('HS256', { cacheSize: 2 });
    const tokens = await Promise.all(
      [1, 2, 3].map(async (i) => (await service.signAccess({ sub: `u${i}`, sid: 's', roles: [] })).token),
    );
    for (const t of tokens) await service.verifyAccess(t);
    expect(service.cacheStats()).toMatchObject({ size: 2, misses: 3 });
    await service.verifyAccess(tokens[2]!);
    expect(service.cacheStats().hits).toBe(1);
    await service.verifyAccess(tokens[0]!);
    expect(service.cacheStats()).toMatchObject({ hits: 1, misses: 4, size: 2 });
  });
});

describe('JWK Set', () => {
  it('HS256: only the assertion key, never anything about the secret', async () => {
    const { service } = await makeService('HS256');
    const { keys } = service.jwks();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.any(String),
      kid: expect.any(String),
      alg: 'EdDSA',
      use: 'sig',
    });
    expect(JSON.stringify(service.jwks())).not.toContain('oct');
  });

  it.each([
    ['EdDSA', { kty: 'OKP', crv: 'Ed25519' }],
    ['ES256', { kty: 'EC', crv: 'P-256' }],
  ] as const)('%s: the assertion key plus the access-token public key', async (algorithm, shape) => {
    const { service, kid } = await makeService(algorithm);
    const { keys } = service.jwks();
    expect(keys).toHaveLength(2);
    const access = keys.find((k) => k.kid === kid);
    expect(access).toMatchObject({ ...shape, alg: algorithm, use: 'sig' });
    expect(keys.find((k) => k.kid !== kid)).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      alg: 'EdDSA',
      use: 'sig',
    });
    for (const k of keys) expect(k).not.toHaveProperty('d');
  });
});

describe('identity assertion', () => {
  it('verifies with node:crypto and the published JWK alone (no JWT library needed upstream)', async () => {
    const { service } = await makeService('HS256');
    const assertion = await service.signAssertion({
      aud: 'orders',
      sub: 'u1',
      email: 'a@example.com',
      roles: ['user'],
      sid: 's1',
      cnf: { jkt: 'thumb' },
    });
    const [h, p, s] = assertion.split('.') as [string, string, string];
    const header = decodePart(assertion, 0);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'JWT' });
    const jwk = service.jwks().keys.find((k) => k.kid === header.kid);
    expect(jwk).toBeDefined();
    const publicKey = createPublicKey({ key: { ...jwk! }, format: 'jwk' });
    expect(verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))).toBe(true);
    expect(verify(null, Buffer.from(`${h}.${p}x`), publicKey, Buffer.from(s, 'base64url'))).toBe(false);

    const claims = decodePart(assertion, 1);
    expect(claims).toEqual({
      iss: 'portcullis',
      aud: 'orders',
      sub: 'u1',
      email: 'a@example.com',
      roles: ['user'],
      sid: 's1',
      cnf: { jkt: 'thumb' },
      iat: T0_S,
      exp: T0_S + 60,
      jti: expect.stringMatching(BASE64URL_128),
    });
  });

  it('generates the assertion key once (mode 0600) and reuses it on the next start', async () => {
    const dir = tempDir();
    const first = await makeService('HS256', { dir });
    const file = join(dir, 'assertion-key.pem');
    expect(first.service.assertionKeyGenerated).toBe(true);
    expect(first.service.assertionKeyPath).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = await makeService('HS256', { dir });
    expect(second.service.assertionKeyGenerated).toBe(false);
    expect(second.service.jwks()).toEqual(first.service.jwks());
    // Known devices survive a restart: the device-token key derives from the persisted assertion key.
    const device = first.service.deviceTokens.issueDeviceToken('a@example.com');
    expect(second.service.deviceTokens.isKnownDevice(device, 'a@example.com')).toBe(true);
  });

  it('uses identity_headers.assertion_key_file when configured and generates nothing', async () => {
    const dir = tempDir();
    const keyFile = join(dir, 'configured.pem');
    const { kid } = keygen('EdDSA', keyFile);
    const service = await createTokenService({
      tokens: tokensConfig('HS256'),
      assertionKeyFile: keyFile,
      dataDir: join(dir, 'data'),
      now: () => T0,
    });
    expect(service.jwks().keys.map((k) => k.kid)).toEqual([kid]);
    expect(service.assertionKeyGenerated).toBe(false);
    expect(existsSync(join(dir, 'data', 'assertion-key.pem'))).toBe(false);
    expect(
      decodePart(await service.signAssertion({ aud: 'r', sub: 'u', email: 'e', roles: [], sid: 's' }), 0).kid,
    ).toBe(kid);
  });

  it('publishes a previous assertion key during rotation, but signs with the current one', async () => {
    const dir = tempDir();
    const previous = keygen('EdDSA', join(dir, 'assertion-key.previous.pem'));
    const { service } = await makeService('HS256', { dir });
    const kids = service.jwks().keys.map((k) => k.kid);
    expect(kids).toHaveLength(2);
    expect(kids[1]).toBe(previous.kid);
    const header = decodePart(
      await service.signAssertion({ aud: 'r', sub: 'u', email: 'e', roles: [], sid: 's' }),
      0,
    );
    expect(header.kid).toBe(kids[0]);
  });
});
