// Checks that a verified token is used by the device it was issued to (a hash of the User-Agent in
// `dev`). On a mismatch the session is revoked (`on_mismatch: revoke`) or only this request refused.
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import { userAgentHash } from '../auth/user-agent.js';
import type { StateStore } from '../state/state-store.js';
import { tokenError } from './authenticate.js';
import type { RequestContext, Stage } from './context.js';

export function createDeviceBinding(config: GatewayConfig, state: StateStore, audit: AuditLog): Stage | null {
  const { mode, on_mismatch } = config.device_binding;
  if (mode !== 'user-agent') return null;
  return async function deviceBinding(ctx: RequestContext): Promise<void> {
    const claims = ctx.claims;
    if (claims === null) return;
    if (claims.dev !== undefined && claims.dev === userAgentHash(ctx.req.headers['user-agent'] ?? '')) return;
    if (on_mismatch === 'revoke') {
      await state.endSession(claims.sub, claims.sid, 'token_revoked');
    }
    audit.record({
      type: 'device_mismatch',
      user_id: claims.sub,
      ip: ctx.clientIp,
      details: { sid: claims.sid, action: on_mismatch, user_agent: ctx.req.headers['user-agent'] ?? '' },
    });
    throw tokenError('device_mismatch');
  };
}
