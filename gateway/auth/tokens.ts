// The jose adapter (the only module importing jose): signs and verifies access tokens (RFC 9068 at+jwt),
// signs upstream identity assertions and publishes the JWK Set. Sessions, revocation and device checks are not here.
import { randomBytes, webcrypto } from 'node:crypto';
import { type CryptoKey, importJWK, importPKCS8, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { GatewayConfig, TokenAlgorithm } from '../../config/types.js';
import { GatewayError } from '../errors.js';
import { createDeviceTokens, type DeviceTokens } from './device-tokens.js';
import { type KeyPair, loadAccessKey, loadAssertionKeys, type PublicJwk } from './keys.js';
import { createVerifiedCache, type VerifiedCacheStats } from './verified-cache.js';

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
  signAssertion(claims: AssertionInput): Promise<string>;
  jwks(): JwkSet;
  cacheStats(): VerifiedCacheStats;
}

const ACCESS_TYP = 'at+jwt';
const ASSERTION_TTL_S = 60;
const CLOCK_TOLERANCE_S = 30;
const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** What gets logged when a token is refused: jose's code and the failing claim, never the token or payload. */
export class TokenRejection extends Error {
  override readonly name = 'TokenRejection';
  constructor(
    readonly code: string,
    readonly claim?: string,
    readonly reason?: string,
  ) {
    super(claim === undefined ? code : `${code}: ${claim} ${reason ?? 'invalid'}`);
  }
}

function field(err: unknown, name: string): string | undefined {
  if (typeof err !== 'object' || err === null || !(name in err)) return undefined;
  const value = (err as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** Translated by jose's stable `code`, never its message; jose's error keeps the payload, so it is dropped. */
function rejected(err: unknown): GatewayError {
  const code = field(err, 'code') ?? 'ERR_UNKNOWN';
  if (code === 'ERR_JWT_EXPIRED') return new GatewayError('token_expired');
  if (err instanceof TokenRejection) return new GatewayError('invalid_token', { cause: err });
  return new GatewayError('invalid_token', {
    cause: new TokenRejection(code, field(err, 'claim'), field(err, 'reason')),
  });
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Shape checks jose does not do; the returned object is built field by field and frozen (cache-safe). */
function toAccessClaims(p: JWTPayload): AccessClaims {
  for (const claim of ['sub', 'jti', 'sid'] as const) {
    if (!isNonEmptyString(p[claim]))
      throw new TokenRejection('ERR_CLAIMS', claim, 'must be a non-empty string');
  }
  if (typeof p.iat !== 'number' || typeof p.exp !== 'number') {
    throw new TokenRejection('ERR_CLAIMS', 'iat/exp', 'must be numbers');
  }
  const roles = p.roles;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
    throw new TokenRejection('ERR_CLAIMS', 'roles', 'must be an array of strings');
  }
  if (p.dev !== undefined && !isNonEmptyString(p.dev))
    throw new TokenRejection('ERR_CLAIMS', 'dev', 'invalid');
  const cnf = p.cnf;
  let jkt: string | undefined;
  if (cnf !== undefined) {
    jkt =
      typeof cnf === 'object' && cnf !== null ? ((cnf as Record<string, unknown>).jkt as string) : undefined;
    if (!isNonEmptyString(jkt)) throw new TokenRejection('ERR_CLAIMS', 'cnf', 'must hold a jkt string');
  }
  return Object.freeze({
    sub: p.sub as string,
    jti: p.jti as string,
    sid: p.sid as string,
    iat: p.iat,
    exp: p.exp,
    roles: Object.freeze([...(roles as string[])]),
    ...(p.dev !== undefined ? { dev: p.dev as string } : {}),
    ...(jkt !== undefined ? { cnf: Object.freeze({ jkt }) } : {}),
  });
}

const newJti = (): string => randomBytes(16).toString('base64url');

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
  const assertionKeys = await loadAssertionKeys(opts.assertionKeyFile, opts.dataDir);

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
  const assertionSignKey = (await importSigningPair(assertionKeys.current)).sign;
  const assertionKid = assertionKeys.current.kid;

  const jwkSet: JwkSet = Object.freeze({
    keys: Object.freeze([
      assertionKeys.current.publicJwk,
      ...assertionKeys.previous.map((k) => k.publicJwk),
      ...(accessKey.algorithm === 'HS256' ? [] : [accessKey.publicJwk]),
    ]),
  });

  const deviceTokens = createDeviceTokens({
    keyMaterial: [assertionKeys.current, ...assertionKeys.previous].map(
      (k) => new Uint8Array(k.privateKey.export({ format: 'der', type: 'pkcs8' })),
    ),
    now,
  });

  const cache = createVerifiedCache<AccessClaims>(opts.cacheSize ?? 10_000);

  // The key is chosen by our configuration, never by the token: an embedded `jwk`, `jku` or `x5u` is not
  // consulted, and a kid we did not issue ends verification before any signature work.
  const selectKey = (header: { kid?: string }): CryptoKey => {
    if (header.kid !== accessKid) throw new TokenRejection('ERR_KID', 'kid', 'unknown key id');
    return verifyKey;
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

    async verifyAccess(token) {
      // Size and shape before anything is decoded: a 100 KB header costs one comparison, not a parse.
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
        throw new GatewayError('invalid_token', { cause: new TokenRejection('ERR_SHAPE') });
      }
      const nowMs = now();
      const cached = cache.get(token, nowMs);
      if (cached !== undefined) return cached;
      let claims: AccessClaims;
      try {
        const { payload } = await jwtVerify(token, selectKey, {
          ...verifyOptions,
          currentDate: new Date(nowMs),
        });
        claims = toAccessClaims(payload);
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

    jwks() {
      return jwkSet;
    },

    cacheStats() {
      return cache.stats();
    },
  };
}
