// Keeps the secrets generated for `${VAR:-@generate}` in <dataDir>/generated-secrets.json (mode 0600).
// Created on first use and reused on later starts; it is for first runs only, never a production key store.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Returns the secret to use for an unset variable; `file` (when known) is named in the warning. */
export interface GeneratedSecretProvider {
  (varName: string): string;
  readonly file?: string;
  /** What the provider had to fix since the last call (a file others could read), for the load's warnings. */
  readonly takeWarnings?: () => string[];
}

export const GENERATED_SECRETS_FILE = 'generated-secrets.json';

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/**
 * The kept secrets. A file group or others can read (copied in, restored from a backup, a umask of
 * 000 when it was made) is tightened to 0600 on the open descriptor, so the check and the fix are about
 * the same file; `warn` says so. When it cannot be tightened (another owner) it is refused.
 */
function readSecrets(file: string, warn: (message: string) => void): Record<string, string> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  let text: string;
  try {
    const { mode } = fstatSync(fd);
    if ((mode & 0o077) !== 0) {
      try {
        fchmodSync(fd, 0o600);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
        throw new Error(
          `${file} can be read by group or others (mode ${octal(mode)}) and cannot be changed to 0600 (${code}): ` +
            'make it 0600, owned by the gateway user',
        );
      }
      warn(`${file} could be read by group or others (mode ${octal(mode)}): its mode is now 0600`);
    }
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
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
  let warnings: string[] = [];
  const warn = (message: string): void => {
    if (!warnings.includes(message)) warnings.push(message);
  };
  const provide = (varName: string): string => {
    const known = readSecrets(file, warn)[varName];
    if (known) return known;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // 48 random bytes: 384 bits, above HS256's 256-bit minimum and the admin token's 32 characters.
    const secrets = { ...readSecrets(file, warn), [varName]: randomBytes(48).toString('base64url') };
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    // The mode given to writeFileSync is masked by the umask; the file holds secrets, so force it.
    chmodSync(temp, 0o600);
    // rename is atomic: a concurrent reader sees the old file or the new one, never half of it.
    renameSync(temp, file);
    return readSecrets(file, warn)[varName] ?? secrets[varName];
  };
  const takeWarnings = (): string[] => {
    const out = warnings;
    warnings = [];
    return out;
  };
  return Object.assign(provide, { file, takeWarnings });
}
