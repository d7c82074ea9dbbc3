// Reads the one Authorization header and verifies the access token: signature first (pinned
// algorithm, our key), then claims. A present but bad credential is never treated as anonymous.
import type { IncomingMessage } from 'node:http';
import type { AccessClaims, TokenService } from '../auth/tokens.js';
import { type ErrorCode, GatewayError } from '../errors.js';
import type { RequestContext, Stage } from './context.js';

/** RFC 6750 §3: token failures carry `error="invalid_token"`, a missing token a bare challenge. */
export function tokenError(code: ErrorCode, cause?: unknown): GatewayError {
  const challenge = code === 'missing_token' ? 'Bearer' : 'Bearer error="invalid_token"';
  return new GatewayError(code, { headers: { 'www-authenticate': challenge }, cause });
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** RFC 9449 §7.1; accepted when some route uses DPoP, and then the device-binding stage requires the proof. */
const DPOP = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The Authorization header, or undefined; two of them are ambiguous and refused. */
export function authorizationHeader(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
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

/** The token of a `Bearer …` (or, when accepted, `DPoP …`) header; throws invalid_token for anything else. */
function credential(header: string, acceptDpop: boolean): string {
  const m = BEARER.exec(header) ?? (acceptDpop ? DPOP.exec(header) : null);
  if (m === null) throw tokenError('invalid_token');
  return m[1]!;
}

/** Verifies the token by signature and claims; a failure is the 401 the client gets. */
async function verifyToken(tokens: TokenService, token: string): Promise<AccessClaims> {
  try {
    return await tokens.verifyAccess(token);
  } catch (err) {
    if (err instanceof GatewayError) throw tokenError(err.code, err.cause);
    throw err;
  }
}

export async function verifyBearer(
  tokens: TokenService,
  header: string,
  acceptDpop = false,
): Promise<AccessClaims> {
  return verifyToken(tokens, credential(header, acceptDpop));
}

export function createAuthenticate(tokens: TokenService, acceptDpop = false): Stage {
  // Not `async`: a request without a token (every public one) costs no promise.
  return function authenticate(ctx: RequestContext): void | Promise<void> {
    const entry = ctx.match!.entry;
    // Login, register and refresh never read a token: a stale one sent by habit must not block them.
    if (entry.endpoint?.readsToken === false) return;
    const header = authorizationHeader(ctx.req);
    // An empty Authorization header is a credential that is present and malformed, not an absent one.
    if (header === undefined) {
      if (entry.config.auth === 'required' || entry.config.roles.length > 0)
        throw tokenError('missing_token');
      return;
    }
    const admit = (claims: AccessClaims): void => {
      ctx.claims = claims;
      // The header matched `Bearer …` or `DPoP …`: the first letter tells them apart.
      ctx.dpopScheme = acceptDpop && (header.charCodeAt(0) | 0x20) === 0x64;
    };
    const token = credential(header, acceptDpop);
    // A token verified before (most requests) is admitted without a promise.
    const known = tokens.verifiedBefore(token);
    if (known !== undefined) {
      admit(known);
      return;
    }
    return verifyToken(tokens, token).then(admit);
  };
}
