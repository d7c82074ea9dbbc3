// Route limit, then the global limit: per user when a verified token is presented, else per client IP.
// Every answer that passed a limit carries RateLimit-* headers; a refusal is 429 with Retry-After.
// Per user, the state store counts both in the session check's round trip (state-checks.ts).
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import { GatewayError } from '../errors.js';
import { rateLimitHeaders, setRateLimitHeaders } from '../http/rate-limit-headers.js';
import { type Limiter, type LimiterBackend, type LimitState, userKey } from '../state/limiter.js';
import type { CounterHit, CounterSpec } from '../state/state-store.js';
import type { RequestContext } from './context.js';

/**
 * Counts the request against the route limit and the global limit; throws rate_limited when over.
 * With `userId`, `hits` are those limits already counted by the state store (in the order of
 * `counters`); absent, the limiters count them here (memory store, or the store failed).
 */
export interface RateLimitCheck {
  (ctx: RequestContext, userId: string | undefined): void | Promise<void>;
  /** The per-user counters of this request for StateStore.checkAccess: the global one, then the route's. */
  counters(ctx: RequestContext, userId: string): readonly CounterSpec[];
  /** Judges the counts the state store made for `counters` (same order); throws rate_limited when over. */
  counted(ctx: RequestContext, userId: string, hits: readonly CounterHit[]): void;
}

export function createRateLimit(
  config: GatewayConfig,
  limiters: LimiterBackend,
  audit: AuditLog,
): RateLimitCheck {
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

  const audited = (
    ctx: RequestContext,
    state: LimitState,
    scope: string,
    key: string,
    userId: string | undefined,
  ): void => {
    // Only the first refusal of a window is an audit event: an attack must not turn into an audit flood.
    if (!state.allowed && state.consumed === state.limit + 1) {
      audit.record({
        type: 'rate_limited',
        user_id: userId ?? null,
        ip: ctx.clientIp,
        details: { scope, key },
      });
    }
  };

  /** Records the states on ctx, audits a first refusal, and throws rate_limited or sets the headers. */
  function judge(
    ctx: RequestContext,
    key: string,
    userId: string | undefined,
    routeState: LimitState | undefined,
    globalState: LimitState,
  ): void {
    if (routeState !== undefined) {
      audited(ctx, routeState, `route:${ctx.match!.entry.config.name}`, key, userId);
      ctx.limits.push(routeState);
    }
    audited(ctx, globalState, 'global', key, userId);
    ctx.limits.push(globalState);
    // A refusal is judged over every limit that applied: when the route's minute is up and the global
    // hour too, Retry-After must name the hour, or the client retries into another refusal.
    if (!globalState.allowed || routeState?.allowed === false) {
      throw new GatewayError('rate_limited', { headers: rateLimitHeaders(ctx.limits, true) });
    }
    setRateLimitHeaders(ctx.res, ctx.limits);
  }

  function rateLimit(ctx: RequestContext, userId: string | undefined): void | Promise<void> {
    const key = userId === undefined ? ctx.clientIp : userId;
    const route = perRoute.get(ctx.match!.entry.config.name);
    // Per user, the counters are in the user's hash slot (userKey), the route's shared with the global.
    const userCounter = userId === undefined ? undefined : userKey(userId);
    const global = userCounter === undefined ? anonymous.consume(key) : authenticated.consume(userCounter);
    // Memory limiters answer at once: then so does this check, and the request never waits a microtask.
    if (route === undefined) {
      if (global instanceof Promise) return global.then((g) => judge(ctx, key, userId, undefined, g));
      judge(ctx, key, userId, undefined, global);
      return;
    }
    // Both counters are counted in the same turn: on Redis one counting command (limiter.ts, CountOp).
    const routed = route.consume(userCounter ?? `ip:${key}`);
    if (routed instanceof Promise || global instanceof Promise) {
      return Promise.all([routed, global]).then(([r, g]) => judge(ctx, key, userId, r, g));
    }
    judge(ctx, key, userId, routed, global);
  }

  return Object.assign(rateLimit, {
    counted(ctx: RequestContext, userId: string, hits: readonly CounterHit[]): void {
      const route = perRoute.get(ctx.match!.entry.config.name);
      judge(ctx, userId, userId, route?.read(hits[1]!), authenticated.read(hits[0]!));
    },
    counters(ctx: RequestContext, userId: string): readonly CounterSpec[] {
      const key = userKey(userId);
      const global = authenticated.counter(key);
      const route = perRoute.get(ctx.match!.entry.config.name);
      return route === undefined ? [global] : [global, route.counter(key)];
    },
  });
}
