// Session allow-list and rate limits in one state-store round trip (the store counts the per-user
// limits in the session check's script), then judged in the contract's order: a dead session is 401
// before an exhausted limit is 429. A dead session's token is not its user's any more: what the store
// counted for it is given back, and the refusal counts against the client's address (rate-limit.ts).
import type { Stage } from './context.js';
import type { RateLimitCheck } from './rate-limit.js';
import { type SessionCheck, sessionEnded } from './session-state.js';

export function createStateChecks(session: SessionCheck, rateLimit: RateLimitCheck): Stage {
  return function stateChecks(ctx): void | Promise<void> {
    const claims = ctx.claims;
    if (claims === null) return rateLimit(ctx, undefined);
    return both(ctx, claims.sub);
  };

  async function both(ctx: Parameters<Stage>[0], userId: string): Promise<void> {
    // The limit is keyed on the verified token's subject: its signature was checked, so it is authentic.
    // A store failure under `deny` is 503 here; under `allow` (null) the limits count in memory.
    const check = await session.fetch(ctx, rateLimit.counters(ctx, userId));
    if (check !== null && sessionEnded(check)) {
      // Someone replaying a revoked token must not use up its owner's limits (nor meet them: 401).
      ctx.sessionEnded = true;
      if (check.counted !== undefined) await rateLimit.giveBack(ctx, userId);
      session.admit(ctx, check);
    }
    let refused: unknown = null;
    try {
      const hits = check?.counted;
      if (hits !== undefined) rateLimit.counted(ctx, userId, hits);
      else await rateLimit(ctx, userId);
    } catch (err) {
      refused = err;
    }
    session.admit(ctx, check);
    if (refused !== null) throw refused;
  }
}
