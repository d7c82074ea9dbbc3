// What the examples/verify tests share: the verifiers to run (as the CLIs an upstream would), a real
// gateway's assertions, and tokens signed with the gateway's own assertion key but chosen claims.
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { call, OPEN_LIMITS, registerAndLogin } from '../integration/accounts/support.js';
import type { TestGateway } from '../support/gateway.js';
import type { RecordingUpstream } from '../support/upstreams.js';

export const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'verify');
const HAS_CRYPTOGRAPHY = spawnSync('python3', ['-c', 'import cryptography']).status === 0;

export interface Verifier {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** What the verifier reports it verified with: proves the standard-library path really ran. */
  readonly backend: string;
}

export const VERIFIERS: Verifier[] = [
  {
    name: 'python (standard library)',
    command: 'python3',
    args: [join(EXAMPLES, 'verify.py'), '--pure'],
    backend: 'pure-python',
  },
  ...(HAS_CRYPTOGRAPHY
    ? [
        {
          name: 'python (cryptography)',
          command: 'python3',
          args: [join(EXAMPLES, 'verify.py')],
          backend: 'cryptography',
        },
      ]
    : []),
  {
    name: 'node (node:crypto)',
    command: process.execPath,
    args: [join(EXAMPLES, 'verify.mjs')],
    backend: 'node:crypto',
  },
];

export interface Outcome {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** Runs a child process to its end, `input` on its stdin. */
export function run(command: string, args: readonly string[], input = ''): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('exit', (code) => resolve({ code, out, err }));
    child.stdin.end(input);
  });
}

/** The verifier's CLI on `token`, with the JWK Set of `from` (a gateway, or any URL). */
export function runVerifier(
  v: Verifier,
  from: TestGateway | string,
  token: string,
  audience = 'orders',
): Promise<Outcome> {
  const jwks = typeof from === 'string' ? from : `${from.url}/.well-known/jwks.json`;
  const args = [...v.args, '--jwks', jwks, '--issuer', 'portcullis', '--audience', audience, '-'];
  return run(v.command, args, token);
}

export const ROUTES = (origin: string) => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
identity_headers: { assertion: X-Auth-Assertion }
routes:
  - { name: orders, path: /api/orders, upstream: "${origin}", auth: required }
`;

/** Logs a fresh user in and returns the assertion the upstream received for one proxied request. */
export async function assertionFrom(
  gw: TestGateway,
  upstream: RecordingUpstream,
): Promise<{ token: string; id: string; access: string }> {
  const { id, pair } = await registerAndLogin(gw);
  const reply = await call(gw, 'GET', '/api/orders/1', { token: pair.access });
  expect(reply.status).toBe(200);
  const token = upstream.requests.at(-1)!.headers['x-auth-assertion'];
  expect(typeof token).toBe('string');
  return { token: token as string, id, access: pair.access };
}

export const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A token signed with the gateway's own assertion key, with the header and claims of our choosing. */
export function signWithGatewayKey(
  gw: TestGateway,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): string {
  const key = createPrivateKey(readFileSync(join(gw.dir, 'assertion-key.pem'), 'utf8'));
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

export const headerOf = (token: string): { kid: string; typ?: string } =>
  JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string; typ?: string };
export const claimsOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
