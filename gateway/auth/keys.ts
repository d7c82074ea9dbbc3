// Signing keys from disk: the access-token key (HS256 secret or PKCS#8 PEM) and the Ed25519 assertion key,
// generated once beside the user database when not configured. node:crypto only: no JWT work happens here.

import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GatewayConfig, TokenAlgorithm } from '../../config/types.js';

export type AsymmetricAlgorithm = Exclude<TokenAlgorithm, 'HS256'>;

/** A public signing key as published in the JWK Set (RFC 7517), `kid` = RFC 7638 thumbprint. */
export interface PublicJwk {
  readonly kty: 'OKP' | 'EC';
  readonly crv: string;
  readonly x: string;
  readonly y?: string;
  readonly kid: string;
  readonly alg: AsymmetricAlgorithm;
  readonly use: 'sig';
}

export interface KeyPair {
  readonly algorithm: AsymmetricAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: PublicJwk;
  readonly kid: string;
}

export type AccessKey =
  | { readonly algorithm: 'HS256'; readonly secret: Uint8Array; readonly kid: string }
  | (KeyPair & { readonly algorithm: AsymmetricAlgorithm });

export interface AssertionKeys {
  readonly current: KeyPair;
  /** Keys being rotated out: still published in the JWKS so assertions already in flight verify. */
  readonly previous: readonly KeyPair[];
  /** Where the current key lives, and whether this start created it. */
  readonly path: string;
  readonly generated: boolean;
}

/** A key problem that must stop the start; the message names the config key and the file. */
export class KeyConfigError extends Error {
  override readonly name = 'KeyConfigError';
}

const MIN_SECRET_BYTES = 32;
const ASSERTION_FILE = 'assertion-key.pem';

const EXPECTED: Record<AsymmetricAlgorithm, { type: string; curve?: string; describe: string }> = {
  EdDSA: { type: 'ed25519', describe: 'an Ed25519 key' },
  ES256: { type: 'ec', curve: 'prime256v1', describe: 'an EC P-256 key' },
};

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve ? `${key.asymmetricKeyType} (${curve})` : String(key.asymmetricKeyType);
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace. */
export function jwkThumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** Checks the key fits the algorithm and builds its public half; throws KeyConfigError naming `where`. */
export function keyPairFrom(privateKey: KeyObject, algorithm: AsymmetricAlgorithm, where: string): KeyPair {
  const want = EXPECTED[algorithm];
  if (
    privateKey.type !== 'private' ||
    privateKey.asymmetricKeyType !== want.type ||
    (want.curve !== undefined && privateKey.asymmetricKeyDetails?.namedCurve !== want.curve)
  ) {
    throw new KeyConfigError(
      `${where}: holds ${describeKey(privateKey)} key; ${algorithm} needs ${want.describe}`,
    );
  }
  const publicKey = createPublicKey(privateKey);
  const exported = publicKey.export({ format: 'jwk' });
  if (typeof exported.crv !== 'string' || typeof exported.x !== 'string') {
    throw new KeyConfigError(`${where}: public key could not be exported as a JWK`);
  }
  const base =
    exported.kty === 'EC' && typeof exported.y === 'string'
      ? { kty: 'EC' as const, crv: exported.crv, x: exported.x, y: exported.y }
      : { kty: 'OKP' as const, crv: exported.crv, x: exported.x };
  const kid = jwkThumbprint(base);
  const publicJwk: PublicJwk = Object.freeze({ ...base, kid, alg: algorithm, use: 'sig' as const });
  return Object.freeze({ algorithm, privateKey, publicKey, publicJwk, kid });
}

/** Parses PKCS#8 PEM only: the one format the contract promises, and the one jose and keygen agree on. */
export function parsePrivateKeyPem(pem: string, algorithm: AsymmetricAlgorithm, where: string): KeyPair {
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new KeyConfigError(
      `${where}: encrypted private keys are not supported; store it unencrypted, mode 0600`,
    );
  }
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new KeyConfigError(
      `${where}: not a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----"); create one with \`portcullis keygen\``,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new KeyConfigError(`${where}: the PEM private key could not be parsed`);
  }
  return keyPairFrom(key, algorithm, where);
}

async function readKeyFile(file: string, where: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new KeyConfigError(`${where}: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
}

export function generateKeyPem(algorithm: AsymmetricAlgorithm): string {
  const { privateKey } =
    algorithm === 'EdDSA'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The HS256 kid names the key without being a plain hash of a possibly human-chosen secret. */
function secretKid(secret: Uint8Array): string {
  return `hs256-${createHmac('sha256', secret).update('portcullis access-token kid').digest('base64url').slice(0, 16)}`;
}

export async function loadAccessKey(tokens: GatewayConfig['tokens']): Promise<AccessKey> {
  if (tokens.algorithm === 'HS256') {
    if (tokens.secret === null)
      throw new KeyConfigError('tokens.secret: required when tokens.algorithm is HS256');
    const secret = new Uint8Array(Buffer.from(tokens.secret, 'utf8'));
    if (secret.byteLength < MIN_SECRET_BYTES) {
      throw new KeyConfigError(`tokens.secret: must be at least ${MIN_SECRET_BYTES} bytes long`);
    }
    return Object.freeze({ algorithm: 'HS256' as const, secret, kid: secretKid(secret) });
  }
  const file = tokens.private_key_file;
  if (file === null) {
    throw new KeyConfigError(
      `tokens.private_key_file: required when tokens.algorithm is ${tokens.algorithm}`,
    );
  }
  const where = `tokens.private_key_file (${file})`;
  const pem = await readKeyFile(file, where);
  if (pem === null)
    throw new KeyConfigError(`${where}: file not found; create it with \`portcullis keygen\``);
  return parsePrivateKeyPem(pem, tokens.algorithm, where);
}

/**
 * The access-token key being rotated out (`tokens.private_key_file`'s `*.previous.pem`, same algorithm):
 * tokens it signed keep verifying, and it stays in the JWKS, until the file is removed. None for HS256.
 */
export async function loadPreviousAccessKeys(
  tokens: GatewayConfig['tokens'],
  current: AccessKey,
): Promise<readonly KeyPair[]> {
  if (tokens.algorithm === 'HS256' || tokens.private_key_file === null) return [];
  const file = previousKeyPath(tokens.private_key_file);
  const where = `previous access-token key (${file})`;
  const pem = await readKeyFile(file, where);
  if (pem === null) return [];
  const previous = parsePrivateKeyPem(pem, tokens.algorithm, where);
  return previous.kid === current.kid ? [] : [previous];
}

/** `keys/a.pem` → `keys/a.previous.pem`: the key being rotated out sits beside the current one. */
export function previousKeyPath(file: string): string {
  return file.endsWith('.pem') ? `${file.slice(0, -4)}.previous.pem` : `${file}.previous`;
}

/**
 * Creates the file only if it does not exist yet, atomically: two workers starting together both end up
 * with the same key (link(2) fails with EEXIST for the loser, who then reads the winner's file).
 */
async function createKeyFileOnce(file: string, pem: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, pem, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

export async function loadAssertionKeys(
  assertionKeyFile: string | null,
  dataDir: string,
): Promise<AssertionKeys> {
  let path: string;
  let pem: string | null;
  let generated = false;
  if (assertionKeyFile !== null) {
    path = assertionKeyFile;
    pem = await readKeyFile(path, `identity_headers.assertion_key_file (${path})`);
    if (pem === null) {
      throw new KeyConfigError(
        `identity_headers.assertion_key_file (${path}): file not found; create it with \`portcullis keygen --algorithm EdDSA\``,
      );
    }
  } else {
    path = join(dataDir, ASSERTION_FILE);
    pem = await readKeyFile(path, `assertion key (${path})`);
    if (pem === null) {
      try {
        await mkdir(dataDir, { recursive: true, mode: 0o700 });
        generated = await createKeyFileOnce(path, generateKeyPem('EdDSA'));
      } catch (err) {
        throw new KeyConfigError(
          `assertion key (${path}): cannot create it (${(err as NodeJS.ErrnoException).code}); set identity_headers.assertion_key_file`,
        );
      }
      pem = await readKeyFile(path, `assertion key (${path})`);
      if (pem === null)
        throw new KeyConfigError(`assertion key (${path}): vanished right after it was created`);
    }
  }
  const where =
    assertionKeyFile !== null ? `identity_headers.assertion_key_file (${path})` : `assertion key (${path})`;
  const current = parsePrivateKeyPem(pem, 'EdDSA', where);
  const previousFile = previousKeyPath(path);
  const previousPem = await readKeyFile(previousFile, `previous assertion key (${previousFile})`);
  const previous =
    previousPem === null
      ? []
      : [parsePrivateKeyPem(previousPem, 'EdDSA', `previous assertion key (${previousFile})`)];
  return Object.freeze({
    current,
    previous: Object.freeze(previous.filter((k) => k.kid !== current.kid)),
    path,
    generated,
  });
}

/**
 * What `check-config` can tell about the key files without creating any: a configured file that is
 * missing, unreadable or not the key its algorithm needs. The same messages as at start.
 */
export function keyFileProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  /** The key in `file`, or null with its problem recorded. */
  const check = (
    file: string,
    algorithm: AsymmetricAlgorithm,
    where: string,
    create: string,
  ): KeyPair | null => {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT'
          ? `${where}: file not found; create it with ${create}`
          : `${where}: cannot read ${file} (${code})`,
      );
      return null;
    }
    try {
      return parsePrivateKeyPem(pem, algorithm, where);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
      return null;
    }
  };
  /** A `*.previous.pem` beside a key is optional; one that is there must be a key start can load. */
  const checkPrevious = (file: string, algorithm: AsymmetricAlgorithm, what: string): void => {
    const previous = previousKeyPath(file);
    if (existsSync(previous)) check(previous, algorithm, `${what} (${previous})`, '`portcullis keygen`');
  };
  const { tokens, identity_headers: identity } = config;
  let accessKey: KeyPair | null = null;
  if (tokens.algorithm !== 'HS256' && tokens.private_key_file !== null) {
    const file = tokens.private_key_file;
    accessKey = check(file, tokens.algorithm, `tokens.private_key_file (${file})`, '`portcullis keygen`');
    checkPrevious(file, tokens.algorithm, 'previous access-token key');
  }
  if (identity.assertion_key_file !== null) {
    const file = identity.assertion_key_file;
    const assertionKey = check(
      file,
      'EdDSA',
      `identity_headers.assertion_key_file (${file})`,
      '`portcullis keygen --algorithm EdDSA`',
    );
    checkPrevious(file, 'EdDSA', 'previous assertion key');
    if (accessKey !== null && assertionKey !== null && accessKey.kid === assertionKey.kid) {
      problems.push(SAME_KEY_PROBLEM);
    }
  }
  return problems;
}

/**
 * One key for access tokens and assertions would let an upstream that receives a user's access token
 * (`forward_authorization`) pass it on as an assertion, and puts one kid twice in the JWKS (RFC 7517 §4.5).
 */
export const SAME_KEY_PROBLEM =
  'tokens.private_key_file and identity_headers.assertion_key_file: must be different keys (an access token must never verify as an assertion)';
