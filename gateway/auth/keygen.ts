// `portcullis keygen --algorithm EdDSA|ES256 --out FILE [--force]`: writes a PKCS#8 PEM private key (mode 0600)
// and prints its public JWK on stdout. It never overwrites a key by accident and never prints the private key.
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { extraArgument, parseCommandLine } from '../../config/cli-args.js';
import { type AsymmetricAlgorithm, generateKeyPem, parsePrivateKeyPem } from './keys.js';

export interface KeygenOutput {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const USAGE = 'usage: portcullis keygen --algorithm EdDSA|ES256 --out FILE [--force]\n';
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

function isAlgorithm(value: string | undefined): value is AsymmetricAlgorithm {
  return value === 'EdDSA' || value === 'ES256';
}

/** Writes beside the target then renames, so a reader never sees half a key and the mode is 0600 from birth. */
function writeKey(file: string, pem: string, force: boolean): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(tmp, 0o600); // a umask cannot widen it, but be explicit for the audit
    if (force) renameSync(tmp, file);
    else linkSync(tmp, file); // link(2) refuses an existing target: no check-then-write race
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed away: nothing to clean up
    }
  }
}

export function runKeygen(argv: readonly string[], out: KeygenOutput): number {
  const line = parseCommandLine(argv, {
    algorithm: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (line.help) {
    out.stdout.write(USAGE);
    return EXIT_OK;
  }
  const problem = line.problem ?? extraArgument(line.positionals, 0);
  if (problem !== null) {
    out.stderr.write(`portcullis keygen: ${problem}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { values } = line;
  if (!isAlgorithm(values.algorithm)) {
    out.stderr.write(
      `portcullis keygen: --algorithm must be EdDSA or ES256 (HS256 uses tokens.secret)\n${USAGE}`,
    );
    return EXIT_USAGE;
  }
  if (values.out === undefined || values.out === '') {
    out.stderr.write(`portcullis keygen: --out FILE is required\n${USAGE}`);
    return EXIT_USAGE;
  }
  const file = resolve(values.out);
  const pem = generateKeyPem(values.algorithm);
  const { publicJwk } = parsePrivateKeyPem(pem, values.algorithm, file);
  try {
    writeKey(file, pem, values.force === true);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    out.stderr.write(
      code === 'EEXIST'
        ? `portcullis keygen: ${file} already exists; pass --force to replace it\n`
        : `portcullis keygen: cannot write ${file} (${code ?? (err as Error).message})\n`,
    );
    return EXIT_FAILED;
  }
  out.stderr.write(`portcullis keygen: wrote ${values.algorithm} private key to ${file} (mode 0600)\n`);
  out.stdout.write(`${JSON.stringify(publicJwk, null, 2)}\n`);
  return EXIT_OK;
}
