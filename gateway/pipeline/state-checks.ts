// Session allow-list and rate limits, started together so they share one state-store round trip,
// then judged in the contract's order: a dead session is 401 before an exhausted limit is 429.
import type { Stage } from './context.js';
import type { RateLimitCheck } from './rate-limit.js';
import type { SessionCheck } from './session-state.js';

type Outcome = { ok: true } | { ok: false; err: unknown };

const settle = (p: Promise<void>): Promise<Outcome> =>
  p.then(
    () => ({ ok: true }),
    (err: unknown) => ({ ok: false, err }),
  );

export function createStateChecks(session: SessionCheck, rateLimit: RateLimitCheck): Stage {
  return function stateChecks(ctx): Promise<void> {
    const claims = ctx.claims;
    if (claims === null) return rateLimit(ctx, undefined);
    return both(ctx, claims.sub);
  };

  async function both(ctx: Parameters<Stage>[0], userId: string): Promise<void> {
    // The limit is keyed on the verified token's subject: its signature was checked, so it is authentic.
    const [s, l] = await Promise.all([settle(session(ctx)), settle(rateLimit(ctx, userId))]);
    if (!s.ok) throw s.err;
    if (!l.ok) throw l.err;
  }
}
