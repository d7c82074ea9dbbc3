// DPoP proofs (RFC 9449) made with node:crypto for tests: correct ones, and every kind of wrong one
// (claims, header, algorithm, key members) through overrides; and the raw requests that carry them.
// Not a client library: no state, no retries.

import {
  createHash,
  createHmac,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { request } from 'node:http';
import { expect } from 'vitest';
import type { TestGateway } from './gateway.js';

export interface DpopKey {
  readonly alg: 'ES256' | 'EdDSA';
  readonly privateKey: KeyObject;
  /** The public JWK as it goes into the proof header. */
  readonly jwk: JsonWebKey;
  /** RFC 7638 thumbprint: what `cnf.jkt` must say. */
  readonly jkt: string;
}

export function newDpopKey(alg: 'ES256' | 'EdDSA' = 'ES256'): DpopKey {
  const { privateKey, publicKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const members =
    jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  const jkt = createHash('sha256').update(JSON.stringify(members)).digest('base64url');
  return { alg, privateKey, jwk, jkt };
}

export const ath = (token: string): string => createHash('sha256').update(token).digest('base64url');

export interface ProofOptions {
  readonly htm: string;
  readonly htu: string;
  /** The access token the proof goes with (sets `ath`). */
  readonly token?: string;
  readonly nonce?: string;
  /** Seconds; default now. */
  readonly iat?: number;
  readonly jti?: string;
  /** Merged over the computed header / claims; `undefined` values delete a member. */
  readonly header?: Record<string, unknown>;
  readonly claims?: Record<string, unknown>;
  /** Sign as HS256 with this secret instead of the key (an attack: a symmetric proof). */
  readonly hmacSecret?: string;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

function merge(
  base: Record<string, unknown>,
  over: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const out = { ...base, ...over };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

export function makeProof(key: DpopKey, o: ProofOptions): string {
  const header = merge(
    { typ: 'dpop+jwt', alg: o.hmacSecret === undefined ? key.alg : 'HS256', jwk: key.jwk },
    o.header,
  );
  const claims = merge(
    {
      jti: o.jti ?? randomBytes(12).toString('base64url'),
      htm: o.htm,
      htu: o.htu,
      iat: o.iat ?? Math.floor(Date.now() / 1000),
      ...(o.token === undefined ? {} : { ath: ath(o.token) }),
      ...(o.nonce === undefined ? {} : { nonce: o.nonce }),
    },
    o.claims,
  );
  const input = `${b64(header)}.${b64(claims)}`;
  const data = Buffer.from(input);
  let signature: Buffer;
  if (o.hmacSecret !== undefined) signature = createHmac('sha256', o.hmacSecret).update(data).digest();
  else if (key.alg === 'ES256')
    signature = sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  else signature = sign(null, data, key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

/** The claims of a JWT, unverified (for asserting what the gateway issued). */
export function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: { code?: string; data?: Record<string, unknown> } | null;
}

export interface SendOptions {
  readonly json?: unknown;
  readonly authorization?: string;
  readonly dpop?: string | string[];
  readonly headers?: Record<string, string>;
  /** Local address to connect from (127.0.0.2 is a trusted proxy in these tests). */
  readonly from?: string;
}

export function send(gw: TestGateway, method: string, path: string, o: SendOptions = {}): Promise<Reply> {
  const headers: Record<string, string | string[]> = { 'user-agent': 'dpop-test/1.0', ...o.headers };
  const payload = o.json === undefined ? undefined : JSON.stringify(o.json);
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  if (o.authorization !== undefined) headers.authorization = o.authorization;
  if (o.dpop !== undefined) headers.dpop = o.dpop;
  return new Promise((resolve, reject) => {
    const req = request(
      `${gw.url}${path}`,
      { method, headers, agent: false, ...(o.from === undefined ? {} : { localAddress: o.from }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: Reply['body'] = null;
          try {
            body = JSON.parse(text) as Reply['body'];
          } catch {
            body = null;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export function expectDpopRefusal(r: Reply, error = 'invalid_dpop_proof'): void {
  expect({ status: r.status, code: r.body?.code }).toEqual({ status: 401, code: 'device_mismatch' });
  const challenge = String(r.headers['www-authenticate']);
  expect(challenge.startsWith('DPoP ')).toBe(true);
  expect(challenge).toContain(`error="${error}"`);
}
