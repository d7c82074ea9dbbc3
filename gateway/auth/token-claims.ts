// What jose leaves to us about access tokens: the shape of their claims, and how a refusal is reported
// (jose's stable code and the failing claim, never the token or payload). Imports no JWT library.
import { GatewayError } from '../errors.js';
import type { AccessClaims } from './tokens.js';

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

export function field(err: unknown, name: string): string | undefined {
  if (typeof err !== 'object' || err === null || !(name in err)) return undefined;
  const value = (err as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** Translated by jose's stable `code`, never its message; jose's error keeps the payload, so it is dropped. */
export function rejected(err: unknown): GatewayError {
  const code = field(err, 'code') ?? 'ERR_UNKNOWN';
  if (code === 'ERR_JWT_EXPIRED') return new GatewayError('token_expired');
  if (err instanceof TokenRejection) return new GatewayError('invalid_token', { cause: err });
  return new GatewayError('invalid_token', {
    cause: new TokenRejection(code, field(err, 'claim'), field(err, 'reason')),
  });
}

// RFC 4648 §3.5: an encoder sets the unused low bits of the last character to zero. Decoders (jose's
// included) ignore them, so without this check one signature has 4 or 16 spellings and a token can be
// re-minted by anyone into a string no revocation or audit record of the original would match.
const B64URL_INDEX = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries())
  B64URL_INDEX[c.charCodeAt(0)] = i;

function canonicalSegmentEnd(token: string, end: number, length: number): boolean {
  const rest = length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = B64URL_INDEX[token.charCodeAt(end - 1)] ?? -1;
  return last >= 0 && (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

export function isCanonicalCompact(token: string): boolean {
  let start = 0;
  for (let dot = token.indexOf('.'); ; dot = token.indexOf('.', start)) {
    const end = dot === -1 ? token.length : dot;
    if (!canonicalSegmentEnd(token, end, end - start)) return false;
    if (dot === -1) return true;
    start = dot + 1;
  }
}

/** jose's clock tolerance for exp and nbf; the future-iat check below uses the same. */
export const CLOCK_TOLERANCE_S = 30;

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Shape checks jose does not do; the returned object is built field by field and frozen (cache-safe). */
export function toAccessClaims(p: Readonly<Record<string, unknown>>, nowS: number): AccessClaims {
  for (const claim of ['sub', 'jti', 'sid'] as const) {
    if (!isNonEmptyString(p[claim]))
      throw new TokenRejection('ERR_CLAIMS', claim, 'must be a non-empty string');
  }
  // JSON.parse turns 1e400 into Infinity: a NumericDate must be a finite number (RFC 7519 §2).
  if (
    typeof p.iat !== 'number' ||
    typeof p.exp !== 'number' ||
    !Number.isFinite(p.iat) ||
    !Number.isFinite(p.exp)
  ) {
    throw new TokenRejection('ERR_CLAIMS', 'iat/exp', 'must be finite numbers');
  }
  // jose checks iat only against a maximum age; a token issued in the future comes from a clock (a
  // replica's) that is wrong by more than the tolerance, and would outlive its intended lifetime.
  if (p.iat > nowS + CLOCK_TOLERANCE_S) throw new TokenRejection('ERR_CLAIMS', 'iat', 'is in the future');
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
