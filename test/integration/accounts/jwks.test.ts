// /.well-known/jwks.json over HTTP: a bare JWK Set holding the assertion key (HS256 config) plus the
// access-token key (EdDSA config, key made by keygen). Upstreams can verify the assertion with it, and
// its public key can never serve as an HMAC secret.
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeygen } from '../../../gateway/auth/keygen.js';
import { decodePart, forge, hmacSigner } from '../../gateway/auth/tokens-forge.js';
import type { TestGateway } from '../../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import { call, expectFailure, me, type Reply, registerAndLogin, startAccountsGateway } from './support.js';

interface Jwk {
  readonly kty: string;
  readonly crv: string;
  readonly x: string;
  readonly kid: string;
  readonly alg: string;
  readonly use: string;
  readonly [k: string]: unknown;
}

function jwkSet(res: Reply): Jwk[] {
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  // Bare (RFC 7517 §5): JOSE libraries read `keys` at the top level, not inside an envelope.
  expect(Object.keys(res.body!)).toEqual(['keys']);
  const keys = res.body!.keys as Jwk[];
  for (const k of keys) {
    expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(typeof k.kid).toBe('string');
    // Public parts only: no private scalar, no symmetric key.
    expect(k.d).toBeUndefined();
    expect(k.k).toBeUndefined();
  }
  return keys;
}

describe('JWKS with HS256 access tokens', () => {
  let gw: TestGateway;
  let upstream: RecordingUpstream;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startAccountsGateway({
      yaml: `
identity_headers: { assertion: X-Auth-Assertion }
routes:
  - { name: billing, path: /api/billing, upstream: "${upstream.origin}", auth: required }
`,
    });
  });
  afterAll(async () => {
    await gw.stop();
    await upstream.close();
  });

  it('holds exactly the assertion key; the HS256 secret is never published', async () => {
    const keys = jwkSet(await call(gw, 'GET', '/.well-known/jwks.json'));
    expect(keys).toHaveLength(1);
  });

  it('may be cached for 5 minutes (it always went out no-store)', async () => {
    const reply = await call(gw, 'GET', '/.well-known/jwks.json');
    expect(reply.headers['cache-control']).toBe('public, max-age=300');
    // Other answers of the gateway's own endpoints stay no-store.
    expect((await call(gw, 'GET', '/api/users/me')).headers['cache-control']).toBe('no-store');
  });

  it('an upstream verifies the X-Auth-Assertion it receives with the published key', async () => {
    const { id, pair } = await registerAndLogin(gw);
    expect((await call(gw, 'GET', '/api/billing/1', { token: pair.access })).status).toBe(200);
    const assertion = upstream.requests.at(-1)!.headers['x-auth-assertion'] as string;
    const [h, p, s] = assertion.split('.') as [string, string, string];
    const header = decodePart(assertion, 0);
    const [key] = jwkSet(await call(gw, 'GET', '/.well-known/jwks.json'));
    expect(header).toMatchObject({ alg: 'EdDSA', kid: key!.kid });
    const publicKey = createPublicKey({ key: { kty: key!.kty, crv: key!.crv, x: key!.x }, format: 'jwk' });
    expect(verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))).toBe(true);
    expect(decodePart(assertion, 1)).toMatchObject({ sub: id, aud: 'billing', iss: 'portcullis' });
  });
});

describe('JWKS with EdDSA access tokens (key from portcullis keygen)', () => {
  let gw: TestGateway;
  let keyDir: string;
  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'portcullis-jwks-'));
    const keyFile = join(keyDir, 'access.pem');
    const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
    expect(runKeygen(['--algorithm', 'EdDSA', '--out', keyFile], quiet)).toBe(0);
    gw = await startAccountsGateway({ base: { tokens: `algorithm: EdDSA, private_key_file: "${keyFile}"` } });
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('holds the assertion key and the access-token key, whose kid the issued tokens name', async () => {
    const keys = jwkSet(await call(gw, 'GET', '/.well-known/jwks.json'));
    expect(keys).toHaveLength(2);
    expect(new Set(keys.map((k) => k.kid)).size).toBe(2);
    const { pair } = await registerAndLogin(gw);
    const header = decodePart(pair.access, 0);
    expect(header.alg).toBe('EdDSA');
    expect(keys.map((k) => k.kid)).toContain(header.kid);
    expect((await me(gw, pair.access)).status).toBe(200);
  });

  it('an HS256 token signed with the published public key (algorithm confusion) → 401 invalid_token', async () => {
    const { pair } = await registerAndLogin(gw);
    const header = decodePart(pair.access, 0);
    const claims = decodePart(pair.access, 1);
    const keys = jwkSet(await call(gw, 'GET', '/.well-known/jwks.json'));
    const access = keys.find((k) => k.kid === header.kid)!;
    const pem = createPublicKey({ key: { kty: access.kty, crv: access.crv, x: access.x }, format: 'jwk' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
    const forged = [
      forge({ ...header, alg: 'HS256' }, claims, hmacSigner(pem)),
      forge({ ...header, alg: 'HS256' }, claims, hmacSigner(Buffer.from(access.x, 'base64url'))),
      forge({ ...header, alg: 'HS256' }, claims, hmacSigner(JSON.stringify(access))),
    ];
    for (const token of forged) {
      const res = await me(gw, token);
      expectFailure(res, 401, 'invalid_token');
    }
    expect((await me(gw, pair.access)).status).toBe(200);
  });
});
