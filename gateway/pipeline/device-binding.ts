// Checks that a verified token is used by the device it was issued to (a hash of the User-Agent in
// `dev`). On a mismatch the session is revoked (`on_mismatch: revoke`) or only this request refused.
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import type { AccessClaims } from '../auth/tokens.js';
import { userAgentHash } from '../auth/user-agent.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../state/state-store.js';
import { tokenError } from './authenticate.js';
import type { RequestContext, Stage } from './context.js';

export interface DeviceBindingDeps {
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Counts revocations skipped under `on_state_error: allow`. */
  readonly onSkip: () => void;
}

export function createDeviceBinding(config: GatewayConfig, deps: DeviceBindingDeps): Stage | null {
  const { mode, on_mismatch } = config.device_binding;
  if (mode !== 'user-agent') return null;
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
      details: { sid: claims.sid, action, user_agent: ctx.req.headers['user-agent'] ?? '' },
    });
    throw tokenError('device_mismatch');
  }

  // Not `async`: the common case (no token, or the right device) costs no promise.
  return function deviceBinding(ctx: RequestContext): void | Promise<void> {
    const claims = ctx.claims;
    if (claims === null) return;
    if (claims.dev !== undefined && claims.dev === userAgentHash(ctx.req.headers['user-agent'] ?? '')) return;
    return mismatch(ctx, claims);
  };
}
