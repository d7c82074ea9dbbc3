// The upstream verification examples (examples/verify/) run against real assertions from a running
// gateway: the Python one on its standard-library path (and on `cryptography` when installed), the Node one.
// Go is not installed here, so verify.go is not run. Rotation: the previous key stays published and usable.
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, OPEN_LIMITS, registerAndLogin } from '../integration/accounts/support.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'verify');
const HAS_CRYPTOGRAPHY = spawnSync('python3', ['-c', 'import cryptography']).status === 0;

interface Verifier {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** What the verifier reports it verified with: proves the standard-library path really ran. */
  readonly backend: string;
}

const VERIFIERS: Verifier[] = [
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

interface Outcome {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

function runVerifier(v: Verifier, gw: TestGateway, token: string, audience = 'orders'): Promise<Outcome> {
  const args = [...v.args, '--jwks', `${gw.url}/.well-known/jwks.json`, '--issuer', 'portcullis'];
  return new Promise((resolve) => {
    const child = spawn(v.command, [...args, '--audience', audience, '-'], { stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('exit', (code) => resolve({ code, out, err }));
    child.stdin.end(token);
  });
}

const ROUTES = (origin: string) => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
identity_headers: { assertion: X-Auth-Assertion }
routes:
  - { name: orders, path: /api/orders, upstream: "${origin}", auth: required }
`;

/** Logs a fresh user in and returns the assertion the upstream received for one proxied request. */
async function assertionFrom(
  gw: TestGateway,
  upstream: RecordingUpstream,
): Promise<{ token: string; id: string }> {
  const { id, pair } = await registerAndLogin(gw);
  const reply = await call(gw, 'GET', '/api/orders/1', { token: pair.access });
  expect(reply.status).toBe(200);
  const token = upstream.requests.at(-1)!.headers['x-auth-assertion'];
  expect(typeof token).toBe('string');
  return { token: token as string, id };
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An assertion signed with the gateway's own key but with claims of our choosing. */
function signWithGatewayKey(gw: TestGateway, kid: string, claims: Record<string, unknown>): string {
  const key = createPrivateKey(readFileSync(join(gw.dir, 'assertion-key.pem'), 'utf8'));
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid })}.${b64(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

const headerOf = (token: string): { kid: string } =>
  JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string };
const claimsOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('assertion verification examples', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let assertion: string;
  let userId: string;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway(ROUTES(upstream.origin));
    ({ token: assertion, id: userId } = await assertionFrom(gw, upstream));
  });
  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it.each(VERIFIERS)('$name accepts a real assertion and returns its claims', async (v) => {
    const r = await runVerifier(v, gw, assertion);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { claims, backend } = JSON.parse(r.out) as { claims: Record<string, unknown>; backend: string };
    expect(backend).toBe(v.backend);
    expect(claims).toMatchObject({ iss: 'portcullis', aud: 'orders', sub: userId, roles: ['user'] });
    expect(typeof claims.sid).toBe('string');
  });

  const tampered: Array<[string, (t: string) => string, string]> = [
    [
      'payload changed (roles: admin), signature kept',
      (t) => {
        const [h, , s] = t.split('.');
        return `${h}.${b64({ ...claimsOf(t), roles: ['admin'] })}.${s}`;
      },
      'bad signature',
    ],
    [
      'one signature byte flipped',
      (t) => {
        const [h, p, s] = t.split('.');
        const sig = Buffer.from(s!, 'base64url');
        sig[5] = sig[5]! ^ 0x01;
        return `${h}.${p}.${sig.toString('base64url')}`;
      },
      'bad signature',
    ],
    [
      'alg: none',
      (t) => `${b64({ alg: 'none', kid: headerOf(t).kid })}.${t.split('.')[1]}.`,
      'unexpected alg',
    ],
    [
      'alg: HS256 (key confusion)',
      (t) => `${b64({ alg: 'HS256', kid: headerOf(t).kid })}.${t.split('.').slice(1).join('.')}`,
      'unexpected alg',
    ],
    [
      'unknown kid',
      (t) => `${b64({ alg: 'EdDSA', kid: 'nope' })}.${t.split('.').slice(1).join('.')}`,
      'unknown kid',
    ],
  ];
  const cases = VERIFIERS.flatMap((v) =>
    tampered.map(([what, change, reason]) => ({ v, what, change, reason })),
  );

  it.each(cases)('$v.name refuses a tampered assertion: $what', async ({ v, change, reason }) => {
    const r = await runVerifier(v, gw, change(assertion));
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`invalid: ${reason}`);
  });

  it.each(VERIFIERS)('$name refuses an assertion minted for another route (aud)', async (v) => {
    const r = await runVerifier(v, gw, assertion, 'billing');
    expect({ code: r.code, err: r.err.trim() }).toEqual({ code: 1, err: 'invalid: wrong audience' });
  });

  it.each(VERIFIERS)('$name refuses a validly signed but expired or foreign-issuer assertion', async (v) => {
    const kid = headerOf(assertion).kid;
    const now = Math.floor(Date.now() / 1000);
    const base = { ...claimsOf(assertion), iat: now - 120, exp: now - 60 };
    const expired = await runVerifier(v, gw, signWithGatewayKey(gw, kid, base));
    expect({ code: expired.code, err: expired.err.trim() }).toEqual({ code: 1, err: 'invalid: expired' });
    const foreign = signWithGatewayKey(gw, kid, { ...base, iat: now, exp: now + 60, iss: 'someone-else' });
    const wrongIss = await runVerifier(v, gw, foreign);
    expect({ code: wrongIss.code, err: wrongIss.err.trim() }).toEqual({
      code: 1,
      err: 'invalid: wrong issuer',
    });
    // The control: the same key and fresh claims verify, so the refusals above are about the claims.
    const fresh = await runVerifier(v, gw, signWithGatewayKey(gw, kid, { ...base, iat: now, exp: now + 60 }));
    expect(fresh.code).toBe(0);
  });
});

describe('assertion key rotation', () => {
  it('with assertion-key.previous.pem present, the JWKS lists both keys and an assertion signed by the previous key still verifies', async () => {
    const upstream = await startRecordingUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'pc-rotation-'));
    try {
      const before = await startTestGateway(ROUTES(upstream.origin), { dir });
      const old = await assertionFrom(before, upstream);
      await before.stop();
      // The operator's rotation: the current key becomes the previous one; the gateway makes a new one.
      renameSync(join(dir, 'assertion-key.pem'), join(dir, 'assertion-key.previous.pem'));
      const after = await startTestGateway(ROUTES(upstream.origin), { dir });
      try {
        const jwks = (await (await fetch(`${after.url}/.well-known/jwks.json`)).json()) as {
          keys: Array<{ kid: string }>;
        };
        const oldKid = headerOf(old.token).kid;
        const fresh = await assertionFrom(after, upstream);
        const newKid = headerOf(fresh.token).kid;
        expect(newKid).not.toBe(oldKid);
        expect(jwks.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
        for (const v of VERIFIERS) {
          expect((await runVerifier(v, after, old.token)).code, `${v.name}: previous key`).toBe(0);
          expect((await runVerifier(v, after, fresh.token)).code, `${v.name}: current key`).toBe(0);
        }
        // Once the previous file is gone, its assertions no longer verify: that is how it is retired.
        await after.stop();
        rmSync(join(dir, 'assertion-key.previous.pem'));
        const retired = await startTestGateway(ROUTES(upstream.origin), { dir });
        try {
          const r = await runVerifier(VERIFIERS[0]!, retired, old.token);
          expect({ code: r.code, err: r.err.trim() }).toEqual({ code: 1, err: 'invalid: unknown kid' });
        } finally {
          await retired.stop();
        }
      } finally {
        await after.stop();
      }
    } finally {
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
