// Key problems stop the start with a KeyConfigError naming the config key: wrong key type for the algorithm,
// missing or unreadable files, non-PKCS#8 PEM, a missing or short HS256 secret.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TokenAlgorithm } from '../../../config/types.js';
import { jwkThumbprint, KeyConfigError, SAME_KEY_PROBLEM } from '../../../gateway/auth/keys.js';
import { createTokenService } from '../../../gateway/auth/tokens.js';
import { tempDir, tokensConfig } from './tokens-forge.js';

function pemFile(dir: string, name: string, pem: string): string {
  const file = join(dir, name);
  writeFileSync(file, pem, { mode: 0o600 });
  return file;
}

function pkcs8(key: KeyObject, type: 'pkcs8' | 'sec1' = 'pkcs8'): string {
  return key.export({ format: 'pem', type }).toString();
}

const ED25519 = pkcs8(generateKeyPairSync('ed25519').privateKey);
const P256 = pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const P384 = pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
const P256_SEC1 = pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'sec1');
const GARBAGE = '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n';

async function startError(
  algorithm: TokenAlgorithm,
  accessPem: string | null,
  options: { secret?: string | null; assertionPem?: string } = {},
): Promise<Error> {
  const dir = tempDir();
  const keyFile = accessPem === null ? null : pemFile(dir, 'access.pem', accessPem);
  const assertionKeyFile =
    options.assertionPem === undefined ? null : pemFile(dir, 'assertion.pem', options.assertionPem);
  try {
    await createTokenService({
      tokens: tokensConfig(algorithm, {
        private_key_file: keyFile,
        ...(options.secret !== undefined ? { secret: options.secret } : {}),
      }),
      assertionKeyFile,
      dataDir: dir,
    });
  } catch (err) {
    return err as Error;
  }
  throw new Error('the service started');
}

describe('start-up key errors', () => {
  it.each<[string, TokenAlgorithm, string, RegExp]>([
    ['EdDSA with a P-256 key', 'EdDSA', P256, /tokens\.private_key_file.*Ed25519/],
    ['ES256 with an Ed25519 key', 'ES256', ED25519, /tokens\.private_key_file.*P-256/],
    ['ES256 with a P-384 key', 'ES256', P384, /secp384r1.*P-256/],
    ['ES256 with a SEC1 (non-PKCS#8) PEM', 'ES256', P256_SEC1, /PKCS#8/],
    ['EdDSA with a PEM that does not parse', 'EdDSA', GARBAGE, /parsed/],
    ['EdDSA with something that is not PEM', 'EdDSA', 'not a pem at all', /PKCS#8/],
  ])('%s', async (_name, algorithm, pem, message) => {
    const err = await startError(algorithm, pem);
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).toMatch(message);
  });

  it('EdDSA without tokens.private_key_file', async () => {
    const err = await startError('EdDSA', null);
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).toMatch(/^tokens\.private_key_file: required/);
  });

  it('a private_key_file that does not exist', async () => {
    const dir = tempDir();
    const err = await createTokenService({
      tokens: tokensConfig('EdDSA', { private_key_file: join(dir, 'missing.pem') }),
      assertionKeyFile: null,
      dataDir: dir,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(KeyConfigError);
    expect((err as Error).message).toMatch(/not found.*keygen/);
  });

  it.each([
    ['missing', null, /tokens\.secret: required/],
    ['31 bytes', 'x'.repeat(31), /tokens\.secret: must be at least 32 bytes/],
  ])('HS256 with a %s secret', async (_name, secret, message) => {
    const err = await startError('HS256', null, { secret });
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).toMatch(message);
  });

  it('an assertion_key_file that is not Ed25519', async () => {
    const err = await startError('HS256', null, { assertionPem: P256 });
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).toMatch(/identity_headers\.assertion_key_file.*Ed25519/);
  });
});

describe('jwkThumbprint', () => {
  it('matches the Ed25519 thumbprint vector of RFC 8037 §A.3', () => {
    expect(
      jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }),
    ).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });
});

describe('access-token key rotation (tokens.private_key_file beside its *.previous.pem)', () => {
  const service = (dir: string, file: string) =>
    createTokenService({
      tokens: tokensConfig('EdDSA', { private_key_file: file }),
      assertionKeyFile: null,
      dataDir: dir,
    });

  it('tokens the previous key signed keep verifying and it stays published; removed, they stop (they died at once)', async () => {
    const dir = tempDir();
    const file = pemFile(dir, 'access.pem', ED25519);
    const before = await service(dir, file);
    const old = await before.signAccess({ sub: 'u1', sid: 's1', roles: ['user'] });
    const oldKid = before.jwks().keys.at(-1)!.kid;

    // Rotation: the current key becomes the previous one, a new key is made.
    pemFile(dir, 'access.previous.pem', ED25519);
    pemFile(dir, 'access.pem', pkcs8(generateKeyPairSync('ed25519').privateKey));
    const after = await service(dir, file);
    expect((await after.verifyAccess(old.token)).sub).toBe('u1');
    const fresh = await after.signAccess({ sub: 'u2', sid: 's2', roles: [] });
    const header = JSON.parse(Buffer.from(fresh.token.split('.')[0]!, 'base64url').toString()) as {
      kid: string;
    };
    expect(header.kid).not.toBe(oldKid);
    const kids = after.jwks().keys.map((k) => k.kid);
    expect(kids).toContain(oldKid);
    expect(kids).toContain(header.kid);

    // The previous key removed: its tokens are refused, its kid unpublished.
    rmSync(join(dir, 'access.previous.pem'));
    const later = await service(dir, file);
    await expect(later.verifyAccess(old.token)).rejects.toMatchObject({ code: 'invalid_token' });
    expect(later.jwks().keys.map((k) => k.kid)).not.toContain(oldKid);
  });

  it('a previous key file that is not a key of the algorithm stops the start, named', async () => {
    const dir = tempDir();
    const file = pemFile(dir, 'access.pem', ED25519);
    pemFile(dir, 'access.previous.pem', P256);
    const err = await service(dir, file).catch((e: Error) => e);
    expect(err).toBeInstanceOf(KeyConfigError);
    expect((err as Error).message).toMatch(/previous access-token key .*access\.previous\.pem/);
  });

  it('SECURITY: one key for access tokens and assertions is refused (an access token would verify as an assertion)', async () => {
    const err = await startError('EdDSA', ED25519, { assertionPem: ED25519 });
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).toBe(SAME_KEY_PROBLEM);
  });
});
