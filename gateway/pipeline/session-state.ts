// The allow-list check: a verified token is accepted only while its session exists, is active and
// its jti is not revoked, in one state-store round trip that also counts the request's per-user rate
// limits. Roles come from the session, not the token.
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccessCheck, CounterSpec, StateStore } from '../state/state-store.js';
import { tokenError } from './authenticate.js';
import type { RequestContext } from './context.js';

/** Activity is recorded at most this often per session: it is bookkeeping, not security. */
const TOUCH_INTERVAL_MS = 60_000;

export interface SessionStateDeps {
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Counts checks skipped under `on_state_error: allow`. */
  readonly onSkip: () => void;
}

/** The allow-list check in two steps, so the rate limits can be judged between them (state-checks.ts). */
export interface SessionCheck {
  /**
   * Asks the store, which also counts `counters` if it can. Null: the store failed and
   * `on_state_error: allow` skips the check; under `deny` that failure throws state_unavailable.
   */
  fetch(ctx: RequestContext, counters: readonly CounterSpec[]): Promise<AccessCheck | null>;
  /** Fills ctx.session / ctx.identity when the session is live; throws otherwise. */
  admit(ctx: RequestContext, check: AccessCheck | null): void;
}

/** The store's answer says the token's session has ended (gone, replaced, revoked id, or disabled). */
export function sessionEnded(check: AccessCheck): boolean {
  return !check.ok || !check.session.active;
}

/** Under `on_state_error: allow`, a store failure skips the check (null); anything else still fails. */
function skipOnStoreError(err: unknown): null {
  if (err instanceof GatewayError && err.code === 'state_unavailable') return null;
  throw err;
}

export function createSessionCheck(config: GatewayConfig, deps: SessionStateDeps): SessionCheck {
  const { state, log } = deps;
  const allowOnError = config.storage.on_state_error === 'allow';
  return {
    fetch(ctx, counters) {
      const claims = ctx.claims!;
      const check = state.checkAccess(claims.sub, claims.sid, claims.jti, counters);
      return allowOnError ? check.catch(skipOnStoreError) : check;
    },

    admit(ctx, check) {
      const claims = ctx.claims!;
      if (check === null) {
        // The explicit trade of `on_state_error: allow`: judged by signature and expiry alone, logged and counted.
        deps.onSkip();
        log.warn(
          { reqId: ctx.reqId, user: claims.sub, sid: claims.sid },
          'state store unavailable: session check skipped',
        );
        ctx.identity = { userId: claims.sub, email: '', roles: claims.roles, sessionId: claims.sid };
        return;
      }
      // The rule of sessionEnded, with each case's reason.
      if (!check.ok) throw tokenError(check.reason);
      const session = check.session;
      if (!session.active) throw tokenError('token_revoked');
      ctx.session = session;
      ctx.identity = {
        userId: session.user_id,
        email: session.email,
        roles: session.roles,
        sessionId: session.sid,
      };
      const now = Date.now();
      if (now - session.last_seen > TOUCH_INTERVAL_MS) state.touchSession(session.user_id, session.sid, now);
    },
  };
}
