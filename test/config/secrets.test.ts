// The generated-secrets file: created once with mode 0600, reused on later starts, one entry per variable.
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSecretFileProvider, loadConfigFile } from '../../config/index.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'portcullis-secrets-'));

describe('createSecretFileProvider', () => {
  it('creates <dataDir>/generated-secrets.json with mode 0600 and a 48-byte base64url secret', () => {
    const dataDir = join(tempDir(), 'data');
    const provider = createSecretFileProvider(dataDir);
    const secret = provider('SECRET_KEY');
    const file = join(dataDir, 'generated-secrets.json');
    expect(provider.file).toBe(file);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(48);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ SECRET_KEY: secret });
  });

  it('reuses the kept secret on a later start and adds new variables beside it', () => {
    const dataDir = tempDir();
    const first = createSecretFileProvider(dataDir)('SECRET_KEY');
    const later = createSecretFileProvider(dataDir);
    expect(later('SECRET_KEY')).toBe(first);
    const admin = later('ADMIN_TOKEN');
    expect(admin).not.toBe(first);
    const kept = JSON.parse(readFileSync(join(dataDir, 'generated-secrets.json'), 'utf8'));
    expect(kept).toEqual({ SECRET_KEY: first, ADMIN_TOKEN: admin });
    expect(statSync(join(dataDir, 'generated-secrets.json')).mode & 0o777).toBe(0o600);
  });

  it('refuses a file that is not a JSON object instead of overwriting it', () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'generated-secrets.json'), '[1, 2]');
    expect(() => createSecretFileProvider(dataDir)('SECRET_KEY')).toThrow(/is not a JSON object/);
    expect(readFileSync(join(dataDir, 'generated-secrets.json'), 'utf8')).toBe('[1, 2]');
  });

  it('SECURITY: tightens a kept file that group or others can read to 0600, and warns once', () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'generated-secrets.json');
    const first = createSecretFileProvider(dataDir)('SECRET_KEY');
    chmodSync(file, 0o644);
    const later = createSecretFileProvider(dataDir);
    expect(later('SECRET_KEY')).toBe(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(later.takeWarnings?.()).toEqual([
      `${file} could be read by group or others (mode 0644): its mode is now 0600`,
    ]);
    expect(later.takeWarnings?.()).toEqual([]);
    later('SECRET_KEY');
    expect(later.takeWarnings?.()).toEqual([]);
  });

  it('SECURITY: a loose kept file is named in the load warnings (logged at start)', () => {
    const dir = tempDir();
    const file = join(dir, 'gateway.yaml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: config syntax
    writeFileSync(file, 'tokens:\n  secret: ${SECRET_KEY:-@generate}\n');
    const secrets = join(dir, 'data', 'generated-secrets.json');
    loadConfigFile(file, { env: {}, generatedSecret: createSecretFileProvider(join(dir, 'data')) });
    chmodSync(secrets, 0o640);
    const loaded = loadConfigFile(file, {
      env: {},
      generatedSecret: createSecretFileProvider(join(dir, 'data')),
    });
    expect(loaded.warnings).toContain(
      `${secrets} could be read by group or others (mode 0640): its mode is now 0600`,
    );
    expect(statSync(secrets).mode & 0o777).toBe(0o600);
  });

  it('gives the same secrets to two loads of a config (a restart keeps sessions valid)', () => {
    const dir = tempDir();
    const file = join(dir, 'gateway.yaml');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: config syntax
    writeFileSync(file, 'tokens:\n  secret: ${SECRET_KEY:-@generate}\n');
    const opts = () => ({ env: {}, generatedSecret: createSecretFileProvider(join(dir, 'data')) });
    const a = loadConfigFile(file, opts());
    const b = loadConfigFile(file, opts());
    expect(a.config.tokens.secret).toBe(b.config.tokens.secret);
    expect(a.warnings).toEqual([
      `SECRET_KEY is not set: using a generated secret kept in ${dir}/data/generated-secrets.json; set SECRET_KEY in production`,
    ]);
  });
});
