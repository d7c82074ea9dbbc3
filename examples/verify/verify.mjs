#!/usr/bin/env node
// Verifies a Portcullis X-Auth-Assertion (EdDSA JWT) against the gateway's JWK Set with node:crypto only:
// typ, key by kid, signature, iss, aud (= this upstream's route name), exp. No JWT library needed.
//
// Usage:  node verify.mjs --jwks http://gateway:8080/.well-known/jwks.json --issuer portcullis \
//                         --audience orders TOKEN            (TOKEN "-" or absent: read from stdin)
// Prints the verified claims as JSON and exits 0; prints "invalid: <reason>" on stderr and exits 1.
//
// In an upstream: `const keys = createJwksCache(url)` once, then per request
// `await verifyAssertion(req.headers['x-auth-assertion'], keys, { issuer, audience: 'orders' })`.
import { createPublicKey, verify } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export class InvalidAssertion extends Error {}

/** The JOSE header `typ` of an assertion, exactly as the gateway writes it (access tokens carry at+jwt). */
export const ASSERTION_TYP = 'JWT';

const B64URL = /^[A-Za-z0-9_-]*$/;

function part(text) {
  // A length of 4n+1 is not base64url at all; Buffer.from would quietly drop the last character.
  if (typeof text !== 'string' || text.length % 4 === 1 || !B64URL.test(text))
    throw new InvalidAssertion('malformed base64url');
  return Buffer.from(text, 'base64url');
}

/** The Ed25519 keys of the JWK Set at `url`, by kid; InvalidAssertion when it cannot be had. */
async function fetchKeys(url) {
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    throw new InvalidAssertion(`JWKS unavailable (${err.cause?.code ?? err.name})`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new InvalidAssertion(`JWKS unavailable (HTTP ${res.status})`);
  }
  const set = await res.json().catch(() => null);
  if (!Array.isArray(set?.keys)) throw new InvalidAssertion('JWKS unavailable (not a JWK Set)');
  const keys = new Map();
  for (const jwk of set.keys) {
    // Only Ed25519 signing keys can verify an assertion; anything else in the set is ignored. The set
    // also holds the access-token keys (tokens.algorithm: EdDSA) and nothing marks them apart: the `typ`
    // check in verifyAssertion is what keeps an access token out.
    if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') continue;
    if ((jwk.alg ?? 'EdDSA') !== 'EdDSA' || (jwk.use ?? 'sig') !== 'sig') continue;
    if (typeof jwk.kid !== 'string' || typeof jwk.x !== 'string') continue;
    try {
      keys.set(jwk.kid, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' }));
    } catch {
      // Not a usable Ed25519 public key: skipped like any other key we cannot use.
    }
  }
  return keys;
}

/**
 * Public keys by kid; an unknown kid triggers one refetch (at most every 30 s): rotation without restarts.
 * A failed fetch is not retried for `failureBackoffMs`, so a gateway that is down is not asked again on
 * every request naming an unknown kid; meanwhile such requests are refused with the fetch's reason.
 */
export function createJwksCache(url, { minRefetchMs = 30_000, failureBackoffMs = 5_000 } = {}) {
  let keys = new Map();
  let nextFetch = -Infinity;
  let failure = null;
  let pending = null;
  async function refetch() {
    try {
      keys = await fetchKeys(url);
      failure = null;
      nextFetch = Date.now() + minRefetchMs;
    } catch (err) {
      // The keys already known stay in use; only unknown kids wait for the next try.
      failure = err instanceof InvalidAssertion ? err : new InvalidAssertion('JWKS unavailable');
      nextFetch = Date.now() + failureBackoffMs;
    }
  }
  return {
    async key(kid) {
      if (!keys.has(kid) && Date.now() >= nextFetch) {
        pending ??= refetch().finally(() => {
          pending = null;
        });
        await pending;
      }
      if (!keys.has(kid) && failure !== null) throw new InvalidAssertion(failure.message);
      return keys.get(kid);
    },
  };
}

/** The claims of a valid assertion minted for `audience`; throws InvalidAssertion otherwise. */
export async function verifyAssertion(
  token,
  keys,
  { issuer, audience, leewaySeconds = 5, now = Date.now() },
) {
  if (typeof token !== 'string' || token.length > 8192) throw new InvalidAssertion('not a token');
  const parts = token.split('.');
  if (parts.length !== 3) throw new InvalidAssertion('not a compact JWS');
  let header;
  let claims;
  try {
    header = JSON.parse(part(parts[0]).toString('utf8'));
    claims = JSON.parse(part(parts[1]).toString('utf8'));
  } catch (err) {
    if (err instanceof InvalidAssertion) throw err;
    throw new InvalidAssertion('malformed header or payload');
  }
  if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null)
    throw new InvalidAssertion('malformed header or payload');
  // The algorithm is pinned: a token cannot choose it (no "none", no HMAC with the public key).
  if (header.alg !== 'EdDSA') throw new InvalidAssertion('unexpected alg');
  // Explicit typing (RFC 8725 §3.11): the gateway's access tokens (typ at+jwt) can be signed by a key in
  // the same JWK Set, and would otherwise pass here whenever tokens.audience is a route name.
  if (header.typ !== ASSERTION_TYP) throw new InvalidAssertion('unexpected typ');
  if (typeof header.kid !== 'string' || header.kid === '')
    throw new InvalidAssertion('malformed header or payload');
  const key = await keys.key(header.kid);
  if (key === undefined) throw new InvalidAssertion('unknown kid');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  if (!verify(null, signed, key, part(parts[2]))) throw new InvalidAssertion('bad signature');
  // Claims are read only after the signature holds.
  const nowS = now / 1000;
  if (claims.iss !== issuer) throw new InvalidAssertion('wrong issuer');
  const aud = claims.aud;
  if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience))))
    throw new InvalidAssertion('wrong audience');
  if (typeof claims.exp !== 'number' || nowS > claims.exp + leewaySeconds)
    throw new InvalidAssertion('expired');
  if (typeof claims.iat !== 'number' || claims.iat > nowS + leewaySeconds)
    throw new InvalidAssertion('issued in the future');
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new InvalidAssertion('no subject');
  return claims;
}

async function main(argv) {
  const opts = { issuer: 'portcullis' };
  let token = '-';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--jwks') opts.jwks = argv[++i];
    else if (arg === '--issuer') opts.issuer = argv[++i];
    else if (arg === '--audience') opts.audience = argv[++i];
    else token = arg;
  }
  if (opts.jwks === undefined || opts.audience === undefined) {
    process.stderr.write('usage: node verify.mjs --jwks URL --audience ROUTE [--issuer ISS] [TOKEN|-]\n');
    return 2;
  }
  if (token === '-') {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    token = Buffer.concat(chunks).toString('utf8').trim();
  }
  try {
    const claims = await verifyAssertion(token, createJwksCache(opts.jwks), opts);
    process.stdout.write(`${JSON.stringify({ valid: true, backend: 'node:crypto', claims })}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InvalidAssertion)) throw err;
    process.stderr.write(`invalid: ${err.message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
