// DPoP (RFC 9449) proof rules on top of tokens.ts's signature check: htm, htu, iat window, ath, the bound
// key, server nonces, and the replay key for the proof's jti. Does not touch the state store or HTTP.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { GatewayConfig } from '../../config/types.js';
import { GatewayError } from '../errors.js';
import type { AccessClaims, TokenService } from './tokens.js';

/** RFC 9449 §7.1: the challenge names the algorithms we accept. */
export const DPOP_ALGS = 'ES256 EdDSA';
/** A proof is accepted this long around its `iat` (seconds), in both directions (clock skew). */
export const PROOF_WINDOW_S = 60;
/** A proof's jti is remembered for as long as the proof could be accepted, plus a margin. */
export const REPLAY_TTL_MS = (2 * PROOF_WINDOW_S + 5) * 1000;
/** A server nonce is valid in the window it was issued in and the next one. */
const NONCE_WINDOW_MS = 60_000;
const JTI_MAX = 256;

/** Why a proof was refused (logged as the GatewayError's cause, and named in error_description). */
export class DpopRejection extends Error {
  override readonly name = 'DpopRejection';
  /** True when the failure shows that someone other than the key holder has the token (or a proof). */
  readonly theft: boolean;
  constructor(reason: string, theft = false, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause });
    this.theft = theft;
  }
}

/** 401 device_mismatch with the RFC 9449 §7.1 challenge. */
export function dpopError(
  reason: string,
  options: {
    theft?: boolean;
    error?: 'invalid_dpop_proof' | 'use_dpop_nonce' | 'invalid_token';
    nonce?: string;
    cause?: unknown;
  } = {},
): GatewayError {
  const headers: Record<string, string> = {
    'www-authenticate': `DPoP algs="${DPOP_ALGS}", error="${options.error ?? 'invalid_dpop_proof'}", error_description="${reason}"`,
  };
  if (options.nonce !== undefined) headers['dpop-nonce'] = options.nonce;
  return new GatewayError('device_mismatch', {
    headers,
    cause: new DpopRejection(reason, options.theft ?? false, options.cause),
  });
}

/** `Bearer …` challenges of other stages, in the scheme a DPoP-mode client expects (RFC 9449 §7.1). */
export function toDpopChallenge(err: GatewayError): GatewayError {
  const challenge = err.headers?.['www-authenticate'];
  if (challenge === undefined || !challenge.startsWith('Bearer')) return err;
  // A device mismatch in DPoP mode (e.g. a refresh with another key) is a proof problem (RFC 9449 §7.1).
  const error =
    err.code === 'device_mismatch' ? 'invalid_dpop_proof' : /error="([a-z_]+)"/.exec(challenge)?.[1];
  return new GatewayError(err.code, {
    message: err.message,
    cause: err.cause,
    close: err.close,
    headers: {
      ...err.headers,
      'www-authenticate': `DPoP algs="${DPOP_ALGS}"${error === undefined ? '' : `, error="${error}"`}`,
    },
  });
}

export interface ProofCheck {
  /** Every DPoP header value of the request (exactly one is required). */
  readonly proofs: readonly string[];
  readonly method: string;
  /** The request's URI as the gateway sees it, without query: `scheme://host[:port]/path`. */
  readonly url: string;
  /** The access token presented with the proof: `ath` must hash it. Absent at login and refresh (no `ath`). */
  readonly accessToken?: string;
  /** The thumbprint the token or session is bound to. */
  readonly jkt?: string;
}

export interface VerifiedProof {
  readonly jkt: string;
  /** For StateStore.firstSeen: the proof is accepted only the first time (RFC 9449 §11.1). */
  readonly replayKey: string;
}

export interface DpopVerifier {
  /** Throws GatewayError device_mismatch (with the RFC's challenge) for anything missing or wrong. */
  verify(check: ProofCheck): Promise<VerifiedProof>;
  /** The nonce to send in `DPoP-Nonce`, or null when server nonces are off. */
  nonce(): string | null;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64url');

/** `https://Host:443/a` and `https://host/a` are one URI (RFC 3986 §6.2.2-3); query and fragment ignored. */
function normalUri(uri: string): string | null {
  try {
    const u = new URL(uri);
    // A user name or password makes it another URI than the request's (RFC 9449 §4.3 ignores only the
    // query and fragment): refused, not dropped.
    if (u.username !== '' || u.password !== '') return null;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return null;
  }
}

function createNonces(secret: Buffer, now: () => number) {
  const mac = (window: number): string =>
    createHmac('sha256', secret).update(`dpop-nonce v1 ${window}`).digest('base64url').slice(0, 22);
  let cached = { window: -1, nonce: '' };
  return {
    current(): string {
      const window = Math.floor(now() / NONCE_WINDOW_MS);
      if (cached.window !== window) cached = { window, nonce: `${window.toString(36)}.${mac(window)}` };
      return cached.nonce;
    },
    valid(nonce: unknown): boolean {
      if (typeof nonce !== 'string' || nonce.length > 64) return false;
      const m = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})$/.exec(nonce);
      if (m === null) return false;
      const window = Number.parseInt(m[1]!, 36);
      const current = Math.floor(now() / NONCE_WINDOW_MS);
      if (window !== current && window !== current - 1) return false;
      return timingSafeEqual(Buffer.from(m[2]!), Buffer.from(mac(window)));
    },
  };
}

export function createDpopVerifier(
  tokens: TokenService,
  options: { readonly nonces: boolean; readonly now?: () => number },
): DpopVerifier {
  const now = options.now ?? Date.now;
  // Shared by every replica that shares the assertion key: a nonce from one is good on all.
  const nonces = options.nonces ? createNonces(tokens.deriveSecret('portcullis dpop-nonce v1'), now) : null;

  return {
    nonce: () => nonces?.current() ?? null,

    async verify(check) {
      if (check.proofs.length === 0) throw dpopError('missing DPoP proof');
      // RFC 9449 §4.3 check 1: exactly one DPoP header; two would let an intermediary pick.
      if (check.proofs.length > 1) throw dpopError('more than one DPoP header');
      let jkt: string;
      let claims: Readonly<Record<string, unknown>>;
      try {
        ({ jkt, claims } = await tokens.verifyDpopProof(check.proofs[0]!));
      } catch (err) {
        throw dpopError('invalid proof signature, typ, alg or jwk', { cause: err });
      }
      const { jti, htm, htu, iat, ath } = claims;
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > JTI_MAX) throw dpopError('bad jti');
      if (htm !== check.method) throw dpopError('htm does not match the request method');
      const proofUri = typeof htu === 'string' ? normalUri(htu) : null;
      if (proofUri === null || proofUri !== normalUri(check.url))
        throw dpopError('htu does not match the request URI');
      if (typeof iat !== 'number' || !Number.isFinite(iat)) throw dpopError('bad iat');
      const age = now() / 1000 - iat;
      if (age > PROOF_WINDOW_S) throw dpopError('proof is too old (iat)');
      if (age < -PROOF_WINDOW_S) throw dpopError('proof is issued in the future (iat)');
      if (check.accessToken !== undefined) {
        if (typeof ath !== 'string') throw dpopError('missing ath');
        if (ath !== sha256(check.accessToken)) throw dpopError('ath does not match the access token');
      } else if (ath !== undefined) {
        throw dpopError('ath without an access token');
      }
      // A valid proof by another key: whoever sent it holds the token but not its key.
      if (check.jkt !== undefined && jkt !== check.jkt)
        throw dpopError('proof key is not the key the token is bound to', { theft: true });
      if (nonces !== null && !nonces.valid(claims.nonce)) {
        throw dpopError('a server nonce is required', { error: 'use_dpop_nonce', nonce: nonces.current() });
      }
      return { jkt, replayKey: `dpop:${jkt}:${sha256(jti)}` };
    },
  };
}

/** The DPoP presentation rules of a bound access token: DPoP scheme, a `cnf.jkt`, then its proof. */
export async function checkBoundToken(
  verifier: DpopVerifier,
  claims: AccessClaims,
  presentation: { scheme: string; token: string; proofs: readonly string[]; method: string; url: string },
): Promise<VerifiedProof> {
  // RFC 9449 §7.1: the token itself is the problem (the DPoP scheme with a token bound to no key).
  if (claims.cnf === undefined)
    throw dpopError('the access token is not DPoP-bound', { error: 'invalid_token' });
  // RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused: someone is using it without its key.
  if (presentation.scheme.toLowerCase() !== 'dpop')
    throw dpopError('a DPoP-bound token was presented as Bearer', { theft: true });
  return verifier.verify({
    proofs: presentation.proofs,
    method: presentation.method,
    url: presentation.url,
    accessToken: presentation.token,
    jkt: claims.cnf.jkt,
  });
}

/** For explain: the same rules, without recording the proof's jti (explain has no side effects). */
export function createDpopExplainer(config: GatewayConfig, tokens: TokenService) {
  const verifier = createDpopVerifier(tokens, { nonces: config.device_binding.dpop_nonce });
  return async (
    claims: AccessClaims,
    input: { method: string; token?: string; dpop?: string },
    url: string,
  ): Promise<string> => {
    await checkBoundToken(verifier, claims, {
      scheme: input.dpop === undefined ? 'Bearer' : 'DPoP',
      token: input.token ?? '',
      proofs: input.dpop === undefined ? [] : [input.dpop],
      method: input.method.toUpperCase(),
      url,
    });
    return 'the DPoP proof is valid for this key, method, URI and token (its jti replay is not checked here)';
  };
}
