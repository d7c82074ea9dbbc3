// `portcullis keygen`: PKCS#8 PEM at mode 0600, public JWK on stdout, no accidental overwrite, usage errors.
import { createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKeygen } from '../../../gateway/auth/keygen.js';
import { tempDir } from './tokens-forge.js';

function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const code = runKeygen(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

describe('portcullis keygen', () => {
  it.each([
    ['EdDSA', 'ed25519', { kty: 'OKP', crv: 'Ed25519' }],
    ['ES256', 'ec', { kty: 'EC', crv: 'P-256' }],
  ] as const)('%s: writes a PKCS#8 PEM (0600) and prints its public JWK', (algorithm, type, shape) => {
    const file = join(tempDir(), 'keys', 'signing.pem');
    const { code, stdout } = run(['--algorithm', algorithm, '--out', file]);
    expect(code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const pem = readFileSync(file, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(pem);
    expect(key.asymmetricKeyType).toBe(type);

    const jwk = JSON.parse(stdout);
    expect(jwk).toMatchObject({
      ...shape,
      alg: algorithm,
      use: 'sig',
      kid: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(jwk).not.toHaveProperty('d');
    expect(jwk.x).toBe(key.export({ format: 'jwk' }).x);
    expect(stdout).not.toContain('PRIVATE');
  });

  it('refuses to overwrite an existing file without --force', () => {
    const file = join(tempDir(), 'signing.pem');
    writeFileSync(file, 'keep me');
    const { code, stderr, stdout } = run(['--algorithm', 'EdDSA', '--out', file]);
    expect(code).toBe(1);
    expect(stderr).toContain('--force');
    expect(stdout).toBe('');
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('replaces it with --force, and the new file is 0600 even if the old one was not', () => {
    const file = join(tempDir(), 'signing.pem');
    writeFileSync(file, 'old');
    chmodSync(file, 0o644);
    expect(run(['--algorithm=ES256', `--out=${file}`, '--force']).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['no arguments', []],
    ['HS256', ['--algorithm', 'HS256', '--out', 'x.pem']],
    ['RS256', ['--algorithm', 'RS256', '--out', 'x.pem']],
    ['lower-case eddsa', ['--algorithm', 'eddsa', '--out', 'x.pem']],
    ['no --out', ['--algorithm', 'EdDSA']],
    ['an unknown option', ['--algorithm', 'EdDSA', '--out', 'x.pem', '--bits', '256']],
    ['a positional argument', ['--algorithm', 'EdDSA', 'x.pem']],
  ])('exits 2 with usage for %s, writing nothing', (_name, argv) => {
    const dir = tempDir();
    const { code, stderr } = run(argv.map((a) => (a === 'x.pem' ? join(dir, a) : a)));
    expect(code).toBe(2);
    expect(stderr).toContain('usage: portcullis keygen');
    expect(existsSync(join(dir, 'x.pem'))).toBe(false);
  });
});
