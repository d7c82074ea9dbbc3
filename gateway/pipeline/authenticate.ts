// Reads the one Authorization header and verifies the access token: signature first (pinned
// algorithm, our key), then claims. A present but bad credential is never treated as anonymous.
import type { AccessClaims, TokenService } from '../auth/tokens.js';
import { type ErrorCode, GatewayError } from '../errors.js';
import type { RequestContext, Stage } from './context.js';

/** RFC 6750 §3: token failures carry `error="invalid_token"`, a missing token a bare challenge. */
export function tokenError(code: ErrorCode, cause?: unknown): GatewayError {
  const challenge = code === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"';
  return new GatewayError(code, { headers: { 'www-authenticate': challenge }, cause });
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** RFC 9449 §7.1; accepted only in DPoP mode, where the dpop-binding stage then requires the proof. */
const DPOP = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The Authorization header, or undefined; two of them are ambiguous and refused. */
export function authorizationHeader(ctx: RequestContext): string | undefined {
  const raw = ctx.req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue;
    if (value !== undefined)
      throw new GatewayError('bad_request', { message: 'Duplicate Authorization header' });
    value = raw[i + 1]!;
  }
  return value;
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

function isCanonicalCompact(token: string): boolean {
  let start = 0;
  for (let dot = token.indexOf('.'); ; dot = token.indexOf('.', start)) {
    const end = dot === -1 ? token.length : dot;
    if (!canonicalSegmentEnd(token, end, end - start)) return false;
    if (dot === -1) return true;
    start = dot + 1;
  }
}

/** RFC 8725 §3.10 asks for strict claim checks: these are the ones jose leaves to the caller. */
const CLOCK_TOLERANCE_S = 30; // the token service's own tolerance for exp and nbf

function checkDates(claims: AccessClaims, nowS: number): void {
  // JSON.parse turns 1e400 into Infinity: a NumericDate must be a finite number (RFC 7519 §2).
  if (!Number.isFinite(claims.exp) || !Number.isFinite(claims.iat)) throw tokenError('invalid_token');
  // jose checks iat only against a maximum age; a token issued in the future comes from a clock (a
  // replica's) that is wrong by more than the tolerance, and would outlive its intended lifetime.
  if (claims.iat > nowS + CLOCK_TOLERANCE_S) throw tokenError('invalid_token');
}

export async function verifyBearer(
  tokens: TokenService,
  header: string,
  acceptDpop = false,
): Promise<AccessClaims> {
  const m = BEARER.exec(header) ?? (acceptDpop ? DPOP.exec(header) : null);
  if (m === null || !isCanonicalCompact(m[1]!)) throw tokenError('invalid_token');
  let claims: AccessClaims;
  try {
    claims = await tokens.verifyAccess(m[1]!);
  } catch (err) {
    if (err instanceof GatewayError) throw tokenError(err.code, err.cause);
    throw err;
  }
  checkDates(claims, Date.now() / 1000);
  return claims;
}

export function createAuthenticate(tokens: TokenService, acceptDpop = false): Stage {
  // Not `async`: a request without a token (every public one) costs no promise.
  return function authenticate(ctx: RequestContext): void | Promise<void> {
    const entry = ctx.match!.entry;
    // Login, register and refresh never read a token: a stale one sent by habit must not block them.
    if (entry.endpoint?.readsToken === false) return;
    const header = authorizationHeader(ctx);
    // An empty Authorization header is a credential that is present and malformed, not an absent one.
    if (header === undefined) {
      if (entry.config.auth === 'required' || entry.config.roles.length > 0)
        throw tokenError('missing_token');
      return;
    }
    return verifyBearer(tokens, header, acceptDpop).then((claims) => {
      ctx.claims = claims;
    });
  };
}
