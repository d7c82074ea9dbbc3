// Route limit, then the global limit: per user when a valid session is known, else per client IP.
// Every answer that passed a limit carries RateLimit-* headers; a refusal is 429 with Retry-After.
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import { GatewayError } from '../errors.js';
import { rateLimitHeaders } from '../http/rate-limit-headers.js';
import type { Limiter, LimiterBackend, LimitState } from '../state/limiter.js';
import type { RequestContext, Stage } from './context.js';

export function createRateLimit(config: GatewayConfig, limiters: LimiterBackend, audit: AuditLog): Stage {
  const g = config.rate_limits.global;
  // Availability controls: on a state-store failure they count in process memory (insurance).
  const anonymous = limiters.create('global-ip', g.anonymous, { failClosed: false });
  const authenticated = limiters.create('global-user', g.authenticated, { failClosed: false });
  const perRoute = new Map<string, Limiter>();
  for (const route of config.routes) {
    if (route.rate_limit !== null) {
      perRoute.set(
        route.name,
        limiters.create(`route:${route.name}`, route.rate_limit, { failClosed: false }),
      );
    }
  }

  const refuse = (ctx: RequestContext, state: LimitState, scope: string, key: string): GatewayError => {
    // Only the first refusal of a window is an audit event: an attack must not turn into an audit flood.
    if (state.consumed === state.limit + 1) {
      audit.record({
        type: 'rate_limited',
        user_id: ctx.identity?.userId ?? null,
        ip: ctx.clientIp,
        details: { scope, key },
      });
    }
    return new GatewayError('rate_limited', { headers: rateLimitHeaders([...ctx.limits, state], true) });
  };

  return async function rateLimit(ctx: RequestContext): Promise<void> {
    const userId = ctx.identity?.userId;
    const key = userId === undefined ? ctx.clientIp : userId;
    const route = perRoute.get(ctx.match!.entry.config.name);
    if (route !== undefined) {
      const state = await route.consume(userId === undefined ? `ip:${key}` : `u:${key}`);
      if (!state.allowed) throw refuse(ctx, state, `route:${ctx.match!.entry.config.name}`, key);
      ctx.limits.push(state);
    }
    const global = userId === undefined ? anonymous : authenticated;
    const state = await global.consume(key);
    if (!state.allowed) throw refuse(ctx, state, 'global', key);
    ctx.limits.push(state);
    const headers = rateLimitHeaders(ctx.limits, false);
    for (const name in headers) ctx.res.setHeader(name, headers[name]!);
  };
}
