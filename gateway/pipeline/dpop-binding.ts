// DPoP device binding (RFC 9449): every request with a DPoP-bound token carries a fresh proof by the
// token's key, on every route; login and refresh may carry one that binds the session to a key (must, in
// global DPoP mode). Built when the global mode or any route uses DPoP. Proof rules are in auth/dpop.ts.
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import { dpopInUse } from '../auth/binding.js';
import {
  checkBoundToken,
  createDpopVerifier,
  DpopRejection,
  dpopError,
  REPLAY_TTL_MS,
  toDpopChallenge,
  type VerifiedProof,
} from '../auth/dpop.js';
import { hashRefreshToken, isRefreshTokenFormat } from '../auth/refresh-tokens.js';
import type { TokenService } from '../auth/tokens.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../state/state-store.js';
import { authorizationHeader } from './authenticate.js';
import type { RequestContext, Stage } from './context.js';

export interface DpopBindingDeps {
  readonly tokens: TokenService;
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Counts replay checks skipped under `on_state_error: allow`. */
  readonly onSkip: () => void;
}

export interface DpopStages {
  /** Called by the device-binding stage for a DPoP-bound token (or the DPoP scheme): checks the proof, starts its replay check. */
  readonly proof: Stage;
  /** After the session and rate-limit checks: judges the replay check; proofs of login and refresh. */
  readonly finish: Stage;
}

const REFRESH_ENDPOINT = 'portcullis:refresh';
/** Login and refresh bind the session to the proof's key: refused here, before any password work, without one. */
const KEY_BINDING_ENDPOINTS = new Set(['portcullis:login', REFRESH_ENDPOINT]);

type Replay = { ok: true; first: boolean } | { ok: false; err: unknown };

function proofsOf(ctx: RequestContext): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'dpop') out.push(raw[i + 1]!);
  }
  return out;
}

/**
 * The request's URI as the client addressed it, without query: scheme and host from X-Forwarded-Proto and
 * X-Forwarded-Host when the peer is a trusted proxy, else `http` and the Host header (client-ip.ts decides).
 */
export function requestUrl(ctx: RequestContext): string {
  return `${ctx.forwardedProto}://${ctx.forwardedHost}${ctx.target!.rawPath}`;
}

/** Whether a refusal speaks DPoP: the route takes DPoP proofs, or the client presented a DPoP token. */
function speaksDpop(ctx: RequestContext): boolean {
  if (ctx.match?.entry.deviceBinding === 'dpop' || ctx.claims?.cnf !== undefined || ctx.dpopScheme)
    return true;
  try {
    return /^dpop /i.test(authorizationHeader(ctx.req) ?? '');
  } catch {
    return false;
  }
}

/** Other stages' Bearer challenges, in the DPoP scheme where the client speaks DPoP (RFC 9449 §7.1). */
export function withDpopChallenge(stage: Stage): Stage {
  const rewrite = (err: unknown, ctx: RequestContext): never => {
    throw err instanceof GatewayError && speaksDpop(ctx) ? toDpopChallenge(err) : err;
  };
  return function dpopChallenge(ctx: RequestContext): void | Promise<void> {
    let pending: void | Promise<void>;
    try {
      pending = stage(ctx);
    } catch (err) {
      return rewrite(err, ctx);
    }
    return pending === undefined ? undefined : pending.catch((err: unknown) => rewrite(err, ctx));
  };
}

export function createDpopBinding(config: GatewayConfig, deps: DpopBindingDeps): DpopStages | null {
  if (!dpopInUse(config)) return null;
  const { state, audit, log } = deps;
  // Only the global mode makes login and refresh require a proof; with DPoP on some routes they take one.
  const proofRequired = config.device_binding.mode === 'dpop';
  const verifier = createDpopVerifier(deps.tokens, { nonces: config.device_binding.dpop_nonce });
  const revokeOnTheft = config.device_binding.on_mismatch === 'revoke';
  const allowOnError = config.storage.on_state_error === 'allow';
  // Replay checks started by `proof`, judged by `finish`: between the two, the session and rate-limit
  // checks are sent in the same tick, so the jti lookup shares their state-store round trip.
  const replays = new WeakMap<RequestContext, Promise<Replay>>();

  const setNonce = (ctx: RequestContext): void => {
    const nonce = verifier.nonce();
    if (nonce !== null) ctx.res.setReplyHeader('dpop-nonce', nonce);
  };

  async function refuse(ctx: RequestContext, err: unknown, userId?: string, sid?: string): Promise<never> {
    const cause = err instanceof GatewayError ? err.cause : undefined;
    // Only evidence that someone else holds the token (a valid proof by another key, a Bearer presentation,
    // a replayed proof) ends the session: a stale or malformed proof may be the owner's clock or bug.
    const theft = cause instanceof DpopRejection && cause.theft;
    if (userId !== undefined && sid !== undefined && theft) {
      let action = 'reject';
      if (revokeOnTheft) {
        action = 'revoke';
        await state.endSession(userId, sid, 'token_revoked').catch((e: unknown) => {
          if (!(allowOnError && e instanceof GatewayError && e.code === 'state_unavailable')) throw e;
          deps.onSkip();
          action = 'revoke_skipped';
        });
      }
      audit.record({
        type: 'device_mismatch',
        user_id: userId,
        ip: ctx.clientIp,
        details: { sid, action, via: 'dpop', reason: (cause as DpopRejection).message },
      });
    }
    throw err;
  }

  async function judgeReplay(
    ctx: RequestContext,
    replay: Replay,
    userId?: string,
    sid?: string,
  ): Promise<void> {
    if (replay.ok) {
      if (!replay.first)
        await refuse(ctx, dpopError('the proof was already used (jti)', { theft: true }), userId, sid);
      return;
    }
    const err = replay.err;
    if (!(allowOnError && err instanceof GatewayError && err.code === 'state_unavailable')) throw err;
    deps.onSkip();
    log.warn({ reqId: ctx.reqId, user: userId }, 'state store unavailable: DPoP replay check skipped');
  }

  const remember = (replayKey: string): Promise<Replay> =>
    state.firstSeen(replayKey, REPLAY_TTL_MS).then(
      (first) => ({ ok: true, first }),
      (err: unknown) => ({ ok: false, err }),
    );

  async function proof(ctx: RequestContext): Promise<void> {
    const claims = ctx.claims;
    if (claims === null) return;
    const header = authorizationHeader(ctx.req) ?? '';
    const space = header.indexOf(' ');
    let verified: VerifiedProof;
    try {
      verified = await checkBoundToken(verifier, claims, {
        scheme: header.slice(0, space),
        token: header.slice(space + 1).trim(),
        proofs: proofsOf(ctx),
        method: ctx.req.method ?? '',
        url: requestUrl(ctx),
      });
    } catch (err) {
      return refuse(ctx, err, claims.sub, claims.sid);
    }
    ctx.dpopJkt = verified.jkt;
    setNonce(ctx);
    // Not awaited here, on purpose (see `replays`); a rejection is captured, never left unhandled.
    replays.set(ctx, remember(verified.replayKey));
  }

  async function finish(ctx: RequestContext): Promise<void> {
    const pending = replays.get(ctx);
    if (pending !== undefined) {
      replays.delete(ctx);
      return judgeReplay(ctx, await pending, ctx.claims?.sub, ctx.claims?.sid);
    }
    // The gateway's endpoints that read no token (login, refresh and any other that issues tokens) bind the
    // key of the proof they carry; whether one is required is theirs to say (accounts refuse to issue without).
    const entry = ctx.match!.entry;
    if (entry.endpoint?.readsToken !== false) return;
    const proofs = proofsOf(ctx);
    if (proofs.length === 0 && !(proofRequired && KEY_BINDING_ENDPOINTS.has(entry.config.name))) return;
    // After the global rate limit (a proof costs a signature check), before any password is hashed.
    const verified = await verifier.verify({
      proofs,
      method: ctx.req.method ?? '',
      url: requestUrl(ctx),
    });
    const replay = await remember(verified.replayKey);
    if (replay.ok && !replay.first && entry.config.name === REFRESH_ENDPOINT) {
      // A replayed refresh proof is someone else's: the session to end is the one the refresh token in
      // the body names, which only the endpoint reads. It calls back with it; `dpopJkt` stays unset.
      ctx.refuseReplayedProof = (refreshToken) => refuseReplayedRefresh(ctx, refreshToken);
      return;
    }
    await judgeReplay(ctx, replay);
    ctx.dpopJkt = verified.jkt;
    setNonce(ctx);
  }

  async function refuseReplayedRefresh(ctx: RequestContext, refreshToken: unknown): Promise<never> {
    const owner = isRefreshTokenFormat(refreshToken)
      ? await state.refreshOwner(hashRefreshToken(refreshToken)).catch((err: unknown) => {
          log.warn(
            { err, reqId: ctx.reqId },
            'state store: the session of a replayed refresh proof is not ended',
          );
          return null;
        })
      : null;
    return refuse(
      ctx,
      dpopError('the proof was already used (jti)', { theft: true }),
      owner?.userId,
      owner?.sid,
    );
  }

  return { proof, finish };
}
