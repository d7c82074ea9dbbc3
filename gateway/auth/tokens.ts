// The jose adapter (the only module importing jose): signs and verifies access tokens (RFC 9068 at+jwt),
// signs upstream identity assertions, checks DPoP proof signatures (RFC 9449) and publishes the JWK Set.
// Sessions, revocation, device checks and DPoP claim rules (dpop.ts) are not here.
import { hkdfSync, webcrypto } from 'node:crypto';
import {
  type CryptoKey,
  importJWK,
  importPKCS8,
  type JWTHeaderParameters,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { GatewayConfig, TokenAlgorithm } from '../../config/types.js';
import { BoundedMap } from '../bounded-map.js';
import { GatewayError } from '../errors.js';
import { createDeviceTokens, type DeviceTokens } from './device-tokens.js';
import {
  jwkThumbprint,
  KeyConfigError,
  type KeyPair,
  loadAccessKey,
  loadAssertionKeys,
  loadPreviousAccessKeys,
  type PublicJwk,
  SAME_KEY_PROBLEM,
} from './keys.js';
import { randomToken } from './random-token.js';
import {
  CLOCK_TOLERANCE_S,
  field,
  isCanonicalCompact,
  rejected,
  TokenRejection,
  toAccessClaims,
} from './token-claims.js';
import { createVerifiedCache, type VerifiedCacheStats } from './verified-cache.js';

export { TokenRejection } from './token-claims.js';

export interface AccessTokenInput {
  readonly sub: string;
  readonly sid: string;
  readonly roles: readonly string[];
  /** userAgentHash() of the device that logged in; never the raw User-Agent. */
  readonly dev?: string;
  /** RFC 9449 confirmation: the DPoP key's thumbprint. */
  readonly cnf?: { readonly jkt: string };
}

export interface AccessClaims extends AccessTokenInput {
  readonly jti: string;
  readonly iat: number; // seconds
  readonly exp: number; // seconds
}

export interface SignedAccessToken {
  readonly token: string;
  readonly jti: string;
  readonly exp: number; // seconds
}

export interface AssertionInput {
  /** The route name: each upstream accepts only assertions minted for it. */
  readonly aud: string;
  readonly sub: string;
  readonly email: string;
  readonly roles: readonly string[];
  readonly sid: string;
  readonly cnf?: { readonly jkt: string };
}

export interface JwkSet {
  readonly keys: readonly PublicJwk[];
}

/** A DPoP proof whose signature holds: the key's RFC 7638 thumbprint and the (unchecked) claims. */
export interface DpopProofSignature {
  readonly jkt: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface TokenServiceOptions {
  readonly tokens: GatewayConfig['tokens'];
  /** PKCS#8 PEM Ed25519 key; null = generated once at `<dataDir>/assertion-key.pem`. */
  readonly assertionKeyFile: string | null;
  readonly dataDir: string;
  /** Milliseconds since the epoch; tests freeze it. */
  readonly now?: () => number;
  /** Verified-token cache entries; 0 turns the cache off. Default 10,000. */
  readonly cacheSize?: number;
}

export interface TokenService {
  readonly algorithm: TokenAlgorithm;
  /** Where the assertion key lives, and whether this start generated it (worth one log line). */
  readonly assertionKeyPath: string;
  readonly assertionKeyGenerated: boolean;
  readonly deviceTokens: DeviceTokens;
  signAccess(claims: AccessTokenInput): Promise<SignedAccessToken>;
  /** Throws GatewayError token_expired or invalid_token. Does NOT look at sessions or revocation. */
  verifyAccess(token: string): Promise<AccessClaims>;
  /**
   * The claims of this exact token when it passed verifyAccess before and has not expired (the cache),
   * without a promise; undefined means only verifyAccess can tell.
   */
  verifiedBefore(token: string): AccessClaims | undefined;
  signAssertion(claims: AssertionInput): Promise<string>;
  /**
   * RFC 9449 §4.3 checks 2-6: one compact JWS, `typ: dpop+jwt`, an asymmetric `alg` (ES256, EdDSA), a public
   * `jwk` header, a valid signature. Throws TokenRejection. The claims (htm, htu, iat, jti, ath) are dpop.ts's.
   */
  verifyDpopProof(proof: string): Promise<DpopProofSignature>;
  /** A 256-bit secret for `info`, derived from the assertion key: the same on every replica sharing it. */
  deriveSecret(info: string): Buffer;
  /** The same from the current assertion key first, then from each key being rotated out. */
  deriveSecrets(info: string): Buffer[];
  jwks(): JwkSet;
  cacheStats(): VerifiedCacheStats;
}

const ACCESS_TYP = 'at+jwt';
const ASSERTION_TTL_S = 60;
const MAX_TOKEN_LENGTH = 4096;

/** A value that may be an access token at all: a string no longer than MAX_TOKEN_LENGTH. */
const tokenSized = (token: unknown): token is string =>
  typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const DPOP_ALGS = ['ES256', 'EdDSA'];
const DPOP_CURVES: Record<string, { kty: string; crv: string }> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
};
// RFC 9449 §4.3 check 6: "the jwk header does not contain a private key" (EC/OKP `d`, RSA, symmetric `k`).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const MAX_PROOF_LENGTH = 4096;
const DPOP_KEY_CACHE = 10_000;

const newJti = (): string => randomToken(16);

async function importSigningPair(pair: KeyPair): Promise<{ sign: CryptoKey; verify: CryptoKey }> {
  const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return {
    sign: await importPKCS8(pem, pair.algorithm),
    verify: (await importJWK({ ...pair.publicJwk }, pair.algorithm)) as CryptoKey,
  };
}

export async function createTokenService(opts: TokenServiceOptions): Promise<TokenService> {
  const { tokens } = opts;
  const now = opts.now ?? Date.now;
  const algorithm = tokens.algorithm;
  const accessTtlS = Math.ceil(tokens.access_ttl / 1000);
  const accessKey = await loadAccessKey(tokens);
  const previousAccessKeys = await loadPreviousAccessKeys(tokens, accessKey);
  const assertionKeys = await loadAssertionKeys(opts.assertionKeyFile, opts.dataDir);
  if (accessKey.kid === assertionKeys.current.kid) throw new KeyConfigError(SAME_KEY_PROBLEM);

  // Imported once: handing jose raw bytes per call costs ~40% of verify throughput (PERF-NOTES).
  let signKey: CryptoKey;
  let verifyKey: CryptoKey;
  if (accessKey.algorithm === 'HS256') {
    const hmac = await webcrypto.subtle.importKey(
      'raw',
      accessKey.secret,
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    signKey = hmac as CryptoKey;
    verifyKey = hmac as CryptoKey;
  } else {
    ({ sign: signKey, verify: verifyKey } = await importSigningPair(accessKey));
  }
  const accessKid = accessKey.kid;
  // Tokens signed by a key being rotated out verify until it is removed (its kid names it); none signs.
  const previousVerifyKeys = new Map<string, CryptoKey>();
  for (const k of previousAccessKeys) previousVerifyKeys.set(k.kid, (await importSigningPair(k)).verify);
  const assertionSignKey = (await importSigningPair(assertionKeys.current)).sign;
  const assertionKid = assertionKeys.current.kid;

  const jwkSet: JwkSet = Object.freeze({
    keys: Object.freeze([
      assertionKeys.current.publicJwk,
      ...assertionKeys.previous.map((k) => k.publicJwk),
      ...(accessKey.algorithm === 'HS256' ? [] : [accessKey.publicJwk]),
      ...previousAccessKeys.map((k) => k.publicJwk),
    ]),
  });

  // Secret key material for what is derived from the assertion keys, current first.
  const secretMaterials = [assertionKeys.current, ...assertionKeys.previous].map(
    (k) => new Uint8Array(k.privateKey.export({ format: 'der', type: 'pkcs8' })),
  );
  const deviceTokens = createDeviceTokens({ keyMaterial: secretMaterials, now });
  const deriveFrom = (material: Uint8Array, info: string): Buffer =>
    Buffer.from(hkdfSync('sha256', material, 'portcullis', info, 32));

  const cache = createVerifiedCache<AccessClaims>(opts.cacheSize ?? 10_000);

  // Imported DPoP keys with their thumbprints: a client signs every proof with the same key, and the import
  // costs about as much as the verification. The key's members are checked before the cache is consulted.
  const dpopKeys = new BoundedMap<string, { readonly key: CryptoKey; readonly jkt: string }>(DPOP_KEY_CACHE);
  const dpopKey = async (header: JWTHeaderParameters, jkt: { value: string }): Promise<CryptoKey> => {
    const jwk: unknown = header.jwk;
    if (typeof jwk !== 'object' || jwk === null) throw new TokenRejection('ERR_DPOP_JWK', 'jwk', 'missing');
    const members = jwk as Record<string, unknown>;
    if (PRIVATE_MEMBERS.some((m) => m in members))
      throw new TokenRejection('ERR_DPOP_JWK', 'jwk', 'holds private key members');
    const want = DPOP_CURVES[header.alg ?? '']!;
    const { kty, crv, x, y } = members;
    if (
      kty !== want.kty ||
      crv !== want.crv ||
      typeof x !== 'string' ||
      (kty === 'EC') !== (typeof y === 'string')
    )
      throw new TokenRejection('ERR_DPOP_JWK', 'jwk', `must be a public ${want.crv} key`);
    // Keyed by the members themselves (alg fixes kty and crv; JSON so no two keys share an id): the
    // thumbprint's hash is made once per key, not per proof.
    const id = JSON.stringify([header.alg, x, y]);
    let known = dpopKeys.get(id);
    if (known === undefined) {
      const shape = typeof y === 'string' ? { kty, crv, x, y } : { kty, crv, x };
      known = { key: (await importJWK(shape, header.alg)) as CryptoKey, jkt: jwkThumbprint(shape) };
      dpopKeys.set(id, known);
    }
    jkt.value = known.jkt;
    return known.key;
  };

  // The key is chosen by our configuration, never by the token: an embedded `jwk`, `jku` or `x5u` is not
  // consulted, and a kid we did not issue ends verification before any signature work.
  const selectKey = (header: { kid?: string }): CryptoKey => {
    if (header.kid === accessKid) return verifyKey;
    const previous = header.kid === undefined ? undefined : previousVerifyKeys.get(header.kid);
    if (previous === undefined) throw new TokenRejection('ERR_KID', 'kid', 'unknown key id');
    return previous;
  };
  const verifyOptions = {
    algorithms: [algorithm], // one entry: no alg:none, no HS256-with-a-public-key confusion
    typ: ACCESS_TYP, // RFC 9068 §4: an assertion or any other JWT of ours cannot pass as an access token
    issuer: tokens.issuer,
    audience: tokens.audience,
    clockTolerance: CLOCK_TOLERANCE_S,
    requiredClaims: ['exp', 'iat', 'jti', 'sub', 'sid'],
  };

  return {
    algorithm,
    assertionKeyPath: assertionKeys.path,
    assertionKeyGenerated: assertionKeys.generated,
    deviceTokens,

    async signAccess(claims) {
      const iat = Math.floor(now() / 1000);
      const exp = iat + accessTtlS;
      const jti = newJti();
      const payload: JWTPayload = { sid: claims.sid, roles: [...claims.roles] };
      if (claims.dev !== undefined) payload.dev = claims.dev;
      if (claims.cnf !== undefined) payload.cnf = { jkt: claims.cnf.jkt };
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: algorithm, typ: ACCESS_TYP, kid: accessKid })
        .setSubject(claims.sub)
        .setJti(jti)
        .setIssuer(tokens.issuer)
        .setAudience(tokens.audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(signKey);
      return { token, jti, exp };
    },

    verifiedBefore(token) {
      return tokenSized(token) ? cache.get(token, now()) : undefined;
    },

    async verifyAccess(token) {
      // Size before anything else: a 100 KB header costs one comparison, not a hash or a parse.
      if (!tokenSized(token)) {
        throw new GatewayError('invalid_token', { cause: new TokenRejection('ERR_SHAPE') });
      }
      // The cache holds only whole tokens that passed every check below: a hit needs none of them again.
      const nowMs = now();
      const cached = cache.get(token, nowMs);
      if (cached !== undefined) return cached;
      // Shape before anything is decoded.
      if (!COMPACT_JWS.test(token) || !isCanonicalCompact(token)) {
        throw new GatewayError('invalid_token', { cause: new TokenRejection('ERR_SHAPE') });
      }
      cache.miss();
      let claims: AccessClaims;
      try {
        const { payload } = await jwtVerify(token, selectKey, {
          ...verifyOptions,
          currentDate: new Date(nowMs),
        });
        claims = toAccessClaims(payload, nowMs / 1000);
      } catch (err) {
        throw rejected(err);
      }
      cache.set(token, claims, nowMs);
      return claims;
    },

    async signAssertion(claims) {
      const iat = Math.floor(now() / 1000);
      const payload: JWTPayload = { email: claims.email, roles: [...claims.roles], sid: claims.sid };
      if (claims.cnf !== undefined) payload.cnf = { jkt: claims.cnf.jkt };
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: assertionKid })
        .setSubject(claims.sub)
        .setAudience(claims.aud)
        .setIssuer(tokens.issuer)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ASSERTION_TTL_S)
        .setJti(newJti())
        .sign(assertionSignKey);
    },

    async verifyDpopProof(proof) {
      if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof))
        throw new TokenRejection('ERR_SHAPE');
      const jkt = { value: '' };
      try {
        // The allow-list is checked by jose before the key is resolved: no `none`, no HMAC, no RSA.
        const { payload } = await jwtVerify(proof, (header) => dpopKey(header, jkt), {
          algorithms: DPOP_ALGS,
          typ: 'dpop+jwt',
          currentDate: new Date(now()),
        });
        return { jkt: jkt.value, claims: payload };
      } catch (err) {
        if (err instanceof TokenRejection) throw err;
        throw new TokenRejection(
          field(err, 'code') ?? 'ERR_UNKNOWN',
          field(err, 'claim'),
          field(err, 'reason'),
        );
      }
    },

    deriveSecret: (info) => deriveFrom(secretMaterials[0]!, info),
    deriveSecrets: (info) => secretMaterials.map((material) => deriveFrom(material, info)),

    jwks() {
      return jwkSet;
    },

    cacheStats() {
      return cache.stats();
    },
  };
}
