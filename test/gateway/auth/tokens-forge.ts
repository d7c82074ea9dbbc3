// Test helpers that build JWTs by hand with node:crypto, so attack tokens do not depend on the library
// under test (jose) being willing to produce them. Not a test file itself.
import { createHmac, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig, TokenAlgorithm } from '../../../config/types.js';
import { runKeygen } from '../../../gateway/auth/keygen.js';
import { createTokenService, type TokenService } from '../../../gateway/auth/tokens.js';
import { GatewayError } from '../../../gateway/errors.js';

export const SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0); // ms
export const T0_S = T0 / 1000;

export type Signer = (signingInput: string) => Buffer;

export const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export const hmacSigner =
  (key: string | Uint8Array): Signer =>
  (input) =>
    createHmac('sha256', key).update(input).digest();

export const ed25519Signer =
  (key: KeyObject): Signer =>
  (input) =>
    sign(null, Buffer.from(input), key);

export const es256Signer =
  (key: KeyObject): Signer =>
  (input) =>
    sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });

export function forge(header: object, payload: object, signer: Signer | null): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer === null ? '' : signer(input).toString('base64url')}`;
}

export function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8'));
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'portcullis-tokens-'));
}

export function tokensConfig(
  algorithm: TokenAlgorithm,
  overrides: Partial<GatewayConfig['tokens']> = {},
): GatewayConfig['tokens'] {
  return {
    algorithm,
    secret: algorithm === 'HS256' ? SECRET : null,
    private_key_file: null,
    issuer: 'portcullis',
    audience: 'portcullis',
    access_ttl: 15 * 60_000,
    refresh_ttl: 86_400_000,
    refresh_reuse_grace: 10_000,
    ...overrides,
  };
}

/** A mutable frozen clock: `clock.now` is passed to the service, `clock.set` moves it. */
export function testClock(start = T0): { now: () => number; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set(ms) {
      t = ms;
    },
  };
}

export function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'user-1',
    jti: 'jti-1',
    sid: 'sid-1',
    roles: ['user'],
    iss: 'portcullis',
    aud: 'portcullis',
    iat: T0_S,
    exp: T0_S + 900,
    ...overrides,
  };
}

export interface TestService {
  readonly service: TokenService;
  readonly dir: string;
  readonly clock: ReturnType<typeof testClock>;
  /** The access-token kid, read from a token the service signed. */
  readonly kid: string;
  /** A signer holding the REAL access key, to forge tokens whose only fault is the one under test. */
  readonly realSigner: Signer;
  readonly keyFile: string | null;
}

const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

/** Writes a key with keygen (EdDSA / ES256) in a temp dir and starts a token service on a frozen clock. */
export async function makeService(
  algorithm: TokenAlgorithm,
  options: { cacheSize?: number; dir?: string } = {},
): Promise<TestService> {
  const dir = options.dir ?? tempDir();
  const clock = testClock();
  let keyFile: string | null = null;
  let realSigner: Signer = hmacSigner(SECRET);
  if (algorithm !== 'HS256') {
    keyFile = join(dir, `access-${algorithm}.pem`);
    if (!existsSync(keyFile) && runKeygen(['--algorithm', algorithm, '--out', keyFile], quiet) !== 0) {
      throw new Error('keygen failed');
    }
    const key = createPrivateKey(readFileSync(keyFile, 'utf8'));
    realSigner = algorithm === 'EdDSA' ? ed25519Signer(key) : es256Signer(key);
  }
  const service = await createTokenService({
    tokens: tokensConfig(algorithm, { private_key_file: keyFile }),
    assertionKeyFile: null,
    dataDir: dir,
    now: clock.now,
    ...(options.cacheSize !== undefined ? { cacheSize: options.cacheSize } : {}),
  });
  const probe = await service.signAccess({ sub: 'probe', sid: 'probe', roles: [] });
  const kid = decodePart(probe.token, 0).kid as string;
  return { service, dir, clock, kid, realSigner, keyFile };
}

/** Runs `fn` and returns the GatewayError it threw (fails the test if it resolved or threw something else). */
export async function rejection(fn: () => Promise<unknown>): Promise<GatewayError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, but the call succeeded');
}
