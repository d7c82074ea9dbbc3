// Key problems stop the start with a KeyConfigError naming the config key: wrong key type for the algorithm,
// missing or unreadable files, non-PKCS#8 PEM, a missing or short HS256 secret.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TokenAlgorithm } from '../../../config/types.js';
import { jwkThumbprint, KeyConfigError } from '../../../gateway/auth/keys.js';
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
