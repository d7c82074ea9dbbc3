// Checks that a verified token is used by the device it was issued to, by the matched route's mode
// (resolved at compile time): a DPoP-bound token always needs its proof (dpop-binding.ts), whatever the
// route says; a `dpop` route refuses any other token; a `user-agent` route compares the hash of the
// User-Agent with `dev`. On a mismatch the session is revoked (`on_mismatch: revoke`) or only this request refused.
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import { dpopError } from '../auth/dpop.js';
import type { AccessClaims } from '../auth/tokens.js';
import { keptUserAgent, userAgentHash } from '../auth/user-agent.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../state/state-store.js';
import { tokenError } from './authenticate.js';
import type { RequestContext, Stage } from './context.js';
import type { DpopStages } from './dpop-binding.js';

export interface DeviceBindingDeps {
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Counts revocations skipped under `on_state_error: allow`. */
  readonly onSkip: () => void;
}

export function createDeviceBinding(
  config: GatewayConfig,
  deps: DeviceBindingDeps,
  dpop: DpopStages | null,
): Stage {
  const { on_mismatch } = config.device_binding;
  const { state, audit, log } = deps;
  const allowOnError = config.storage.on_state_error === 'allow';

  async function revoke(
    ctx: RequestContext,
    userId: string,
    sid: string,
  ): Promise<'revoke' | 'revoke_skipped'> {
    try {
      await state.endSession(userId, sid, 'token_revoked');
      return 'revoke';
    } catch (err) {
      if (!(allowOnError && err instanceof GatewayError && err.code === 'state_unavailable')) throw err;
      // `allow` trades revocation for availability, not the device check: the token alone shows the
      // mismatch, so this request is still refused; only the revocation is skipped (logged, counted).
      deps.onSkip();
      log.warn(
        { reqId: ctx.reqId, user: userId, sid },
        'state store unavailable: device-mismatch revocation skipped',
      );
      return 'revoke_skipped';
    }
  }

  async function mismatch(ctx: RequestContext, claims: AccessClaims): Promise<never> {
    const action = on_mismatch === 'revoke' ? await revoke(ctx, claims.sub, claims.sid) : on_mismatch;
    audit.record({
      type: 'device_mismatch',
      user_id: claims.sub,
      ip: ctx.clientIp,
      details: { sid: claims.sid, action, user_agent: keptUserAgent(ctx.req.headers['user-agent'] ?? '') },
    });
    throw tokenError('device_mismatch');
  }

  // Not `async`: the common case (no token, or the right device) costs no promise.
  return function deviceBinding(ctx: RequestContext): void | Promise<void> {
    const claims = ctx.claims;
    if (claims === null) return;
    // RFC 9449 §7.1: a key-bound token is never a bearer token, on any route (else a stolen one would be
    // one on the laxest route). Without DPoP anywhere in the config (a token from an earlier config), it
    // cannot be proven and is refused.
    if (claims.cnf !== undefined || ctx.dpopScheme) {
      if (dpop !== null) return dpop.proof(ctx);
      throw tokenError('device_mismatch');
    }
    const mode = ctx.match!.entry.deviceBinding;
    if (mode === 'user-agent') {
      if (claims.dev !== undefined && claims.dev === userAgentHash(ctx.req.headers['user-agent'] ?? ''))
        return;
      return mismatch(ctx, claims);
    }
    // Not theft: a token from a login without a proof, used where a key-bound one is required.
    if (mode === 'dpop') throw dpopError('the access token is not DPoP-bound', { error: 'invalid_token' });
  };
}
