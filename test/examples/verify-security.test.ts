// Security regressions of the upstream verifiers (examples/verify/), against a real gateway whose access
// tokens are EdDSA too (so its JWK Set holds the access-token key) and whose tokens.audience is a route
// name: the setting in which an access token would otherwise pass as an assertion. Also: malformed input
// and an unusable JWK Set end in one `invalid:` line and exit 1, never a crash.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeygen } from '../../gateway/auth/keygen.js';
import { call } from '../integration/accounts/support.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import {
  assertionFrom,
  b64,
  claimsOf,
  EXAMPLES,
  headerOf,
  ROUTES,
  run,
  runVerifier,
  signWithGatewayKey,
  VERIFIERS,
} from './verify-support.js';

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One JwksCache, two verifications of `token`: what each said (the library API, not the CLI). */
const LIBRARY_DRIVERS = [
  {
    name: 'python',
    command: 'python3',
    args: [
      '-c',
      `import json, sys
sys.path.insert(0, ${JSON.stringify(EXAMPLES)})
import verify
cache = verify.JwksCache(sys.argv[1])
said = []
for _ in range(2):
    try:
        verify.verify_assertion(sys.argv[2], cache, "portcullis", "orders")
        said.append("valid")
    except verify.InvalidAssertion as err:
        said.append(str(err))
print(json.dumps(said))`,
    ],
  },
  {
    name: 'node',
    command: process.execPath,
    args: [
      '--input-type=module',
      '-e',
      `import { createJwksCache, verifyAssertion, InvalidAssertion } from ${JSON.stringify(pathToFileURL(join(EXAMPLES, 'verify.mjs')).href)};
const cache = createJwksCache(process.argv[1]);
const said = [];
for (let i = 0; i < 2; i++) {
  try {
    await verifyAssertion(process.argv[2], cache, { issuer: 'portcullis', audience: 'orders' });
    said.push('valid');
  } catch (err) {
    if (!(err instanceof InvalidAssertion)) throw err;
    said.push(err.message);
  }
}
console.log(JSON.stringify(said));`,
    ],
  },
];

describe('assertion verifiers: security regressions', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let keyDir: string;
  let assertion: string;
  let access: string;
  /** Requests the broken JWKS server received, by path. */
  const jwksHits = new Map<string, number>();
  let broken: RecordingUpstream;

  beforeAll(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'pc-verify-security-'));
    const keyFile = join(keyDir, 'access.pem');
    const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };
    expect(runKeygen(['--algorithm', 'EdDSA', '--out', keyFile], quiet)).toBe(0);
    upstream = await startRecordingUpstream();
    gw = await startTestGateway(ROUTES(upstream.origin), {
      base: { tokens: `algorithm: EdDSA, private_key_file: "${keyFile}", audience: orders` },
    });
    ({ token: assertion, access } = await assertionFrom(gw, upstream));
    broken = await startRecordingUpstream((req, res) => {
      const path = req.url ?? '';
      jwksHits.set(path, (jwksHits.get(path) ?? 0) + 1);
      if (path.startsWith('/down')) res.writeHead(503).end('down for maintenance');
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not a JWK Set</html>');
      return true;
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
    await broken?.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it.each(VERIFIERS)('$name: an access token is refused as an assertion', async (v) => {
    // The premise: the access token is signed by a key in the same JWK Set, with the claims that pass.
    const jwks = (await call(gw, 'GET', '/.well-known/jwks.json')).body as unknown as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toContain(headerOf(access).kid);
    expect(headerOf(access)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(claimsOf(access)).toMatchObject({ iss: 'portcullis', aud: 'orders' });
    const r = await runVerifier(v, gw, access);
    expect({ code: r.code, out: r.out, err: r.err }).toEqual({
      code: 1,
      out: '',
      err: 'invalid: unexpected typ\n',
    });
    // The control: this gateway's real assertion still verifies.
    expect((await runVerifier(v, gw, assertion)).code).toBe(0);
  });

  const typs: Array<[string, Record<string, unknown>]> = [
    ['typ: at+jwt', { typ: 'at+jwt' }],
    ['no typ', {}],
  ];
  it.each(VERIFIERS.flatMap((v) => typs.map(([what, typ]) => ({ v, what, typ }))))(
    '$v.name: a token signed with the assertion key but with $what is refused',
    async ({ v, typ }) => {
      const now = Math.floor(Date.now() / 1000);
      const claims = { ...claimsOf(assertion), iat: now, exp: now + 60 };
      const token = signWithGatewayKey(gw, { alg: 'EdDSA', kid: headerOf(assertion).kid, ...typ }, claims);
      const r = await runVerifier(v, gw, token);
      expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: 'invalid: unexpected typ\n' });
    },
  );

  const malformed: Array<[string, (t: string) => string, string]> = [
    [
      'a signature part that is not base64url (A)',
      (t) => `${t.split('.').slice(0, 2).join('.')}.A`,
      'malformed base64url',
    ],
    [
      'a list-valued kid',
      (t) => `${b64({ ...headerOf(t), kid: [headerOf(t).kid] })}.${t.split('.').slice(1).join('.')}`,
      'malformed header or payload',
    ],
    [
      'an object-valued kid',
      (t) => `${b64({ ...headerOf(t), kid: { k: headerOf(t).kid } })}.${t.split('.').slice(1).join('.')}`,
      'malformed header or payload',
    ],
  ];
  it.each(VERIFIERS.flatMap((v) => malformed.map(([what, change, reason]) => ({ v, what, change, reason }))))(
    '$v.name: $what is one invalid line and exit 1',
    async ({ v, change, reason }) => {
      const r = await runVerifier(v, gw, change(assertion));
      expect({ code: r.code, out: r.out, err: r.err }).toEqual({
        code: 1,
        out: '',
        err: `invalid: ${reason}\n`,
      });
    },
  );

  const unusable: Array<[string, () => Promise<string>]> = [
    ['unreachable (connection refused)', async () => `http://127.0.0.1:${await closedPort()}/jwks.json`],
    ['answering 503', async () => `${broken.origin}/down/cli`],
    ['answering 200 with HTML', async () => `${broken.origin}/html`],
  ];
  it.each(VERIFIERS.flatMap((v) => unusable.map(([what, url]) => ({ v, what, url }))))(
    '$v.name: a JWK Set $what is one invalid line and exit 1',
    async ({ v, url }) => {
      const r = await runVerifier(v, await url(), assertion);
      expect(r.code).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^invalid: JWKS unavailable\b[^\n]*\n$/);
    },
  );

  it.each(LIBRARY_DRIVERS)(
    '$name: after a failed JWKS fetch, the next unknown kid within the back-off does not fetch again',
    async (d) => {
      const path = `/down/${d.name}`;
      const r = await run(d.command, [...d.args, `${broken.origin}${path}`, assertion]);
      expect(r.err).toBe('');
      const said = JSON.parse(r.out) as string[];
      expect(said).toHaveLength(2);
      for (const reason of said) expect(reason).toMatch(/^JWKS unavailable\b/);
      expect(jwksHits.get(path)).toBe(1);
    },
  );
});
