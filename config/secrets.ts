// Keeps the secrets generated for `${VAR:-@generate}` in <dataDir>/generated-secrets.json (mode 0600).
// Created on first use and reused on later starts; it is for first runs only, never a production key store.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Returns the secret to use for an unset variable; `file` (when known) is named in the warning. */
export interface GeneratedSecretProvider {
  (varName: string): string;
  readonly file?: string;
}

export const GENERATED_SECRETS_FILE = 'generated-secrets.json';

function readSecrets(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const data: unknown = JSON.parse(text);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`${file} is not a JSON object`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) if (typeof value === 'string') out[key] = value;
  return out;
}

export function createSecretFileProvider(dataDir: string): GeneratedSecretProvider {
  const file = join(dataDir, GENERATED_SECRETS_FILE);
  const provide = (varName: string): string => {
    const known = readSecrets(file)[varName];
    if (known) return known;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // 48 random bytes: 384 bits, above HS256's 256-bit minimum and the admin token's 32 characters.
    const secrets = { ...readSecrets(file), [varName]: randomBytes(48).toString('base64url') };
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    // The mode given to writeFileSync is masked by the umask; the file holds secrets, so force it.
    chmodSync(temp, 0o600);
    // rename is atomic: a concurrent reader sees the old file or the new one, never half of it.
    renameSync(temp, file);
    return readSecrets(file)[varName] ?? secrets[varName];
  };
  return Object.assign(provide, { file });
}
