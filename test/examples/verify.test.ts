// The upstream verification examples (examples/verify/) run against real assertions from a running
// gateway: the Python one on its standard-library path (and on `cryptography` when installed), the Node one.
// The suite must not need Go, so verify.go is not run. Rotation: the previous key stays published and usable.
// The security cases (token confusion, malformed input, an unreachable JWK Set) are in verify-security.test.ts.
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import {
  assertionFrom,
  b64,
  claimsOf,
  headerOf,
  ROUTES,
  runVerifier,
  signWithGatewayKey,
  VERIFIERS,
} from './verify-support.js';

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
      (t) => `${b64({ alg: 'EdDSA', typ: 'JWT', kid: 'nope' })}.${t.split('.').slice(1).join('.')}`,
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
    const header = { alg: 'EdDSA', typ: 'JWT', kid: headerOf(assertion).kid };
    const now = Math.floor(Date.now() / 1000);
    const base = { ...claimsOf(assertion), iat: now - 120, exp: now - 60 };
    const expired = await runVerifier(v, gw, signWithGatewayKey(gw, header, base));
    expect({ code: expired.code, err: expired.err.trim() }).toEqual({ code: 1, err: 'invalid: expired' });
    const foreign = signWithGatewayKey(gw, header, { ...base, iat: now, exp: now + 60, iss: 'someone-else' });
    const wrongIss = await runVerifier(v, gw, foreign);
    expect({ code: wrongIss.code, err: wrongIss.err.trim() }).toEqual({
      code: 1,
      err: 'invalid: wrong issuer',
    });
    // The control: the same key and fresh claims verify, so the refusals above are about the claims.
    const fresh = await runVerifier(
      v,
      gw,
      signWithGatewayKey(gw, header, { ...base, iat: now, exp: now + 60 }),
    );
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
