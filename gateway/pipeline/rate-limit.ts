// Route limit, then the global limit: per user when a verified token is presented, else per client IP
// (ctx.clientIpKey: an IPv6 client by its network, server.ipv6_limit_prefix).
// Every answer that passed a limit carries RateLimit-* headers; a refusal is 429 with Retry-After.
// Per user, the state store counts both in the session check's round trip (state-checks.ts). A request
// refused before the limits (bad path, no route, a bad token) counts against the global limit too
// (createRefusalCount): the global limit covers every request on the main listener.
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
  /** Gives back what the state store counted for `counters` (the session had ended). Never rejects. */
  giveBack(ctx: RequestContext, userId: string): Promise<void>;
}

/** The global limiters (the backend hands the same instances to every caller, reloads included). */
function globalLimiters(
  config: GatewayConfig,
  limiters: LimiterBackend,
): { anonymous: Limiter; authenticated: Limiter } {
  const g = config.rate_limits.global;
  // Availability controls: on a state-store failure they count in process memory (insurance).
  return {
    anonymous: limiters.create('global-ip', g.anonymous, { failClosed: false }),
    authenticated: limiters.create('global-user', g.authenticated, { failClosed: false }),
  };
}

/** Only the first refusal of a window is an audit event: an attack must not turn into an audit flood. */
function auditRefusal(
  audit: AuditLog,
  ctx: RequestContext,
  state: LimitState,
  scope: string,
  key: string,
  userId: string | undefined,
): void {
  if (!state.allowed && state.consumed === state.limit + 1) {
    audit.record({
      type: 'rate_limited',
      user_id: userId ?? null,
      ip: ctx.clientIp,
      details: { scope, key },
    });
  }
}

export function createRateLimit(
  config: GatewayConfig,
  limiters: LimiterBackend,
  audit: AuditLog,
): RateLimitCheck {
  const { anonymous, authenticated } = globalLimiters(config, limiters);
  const perRoute = new Map<string, Limiter>();
  for (const route of config.routes) {
    if (route.rate_limit !== null) {
      perRoute.set(
        route.name,
        limiters.create(`route:${route.name}`, route.rate_limit, { failClosed: false }),
      );
    }
  }

  /** Records the states on ctx, audits a first refusal, and throws rate_limited or sets the headers. */
  function judge(
    ctx: RequestContext,
    key: string,
    userId: string | undefined,
    routeState: LimitState | undefined,
    globalState: LimitState,
  ): void {
    if (routeState !== undefined) {
      auditRefusal(audit, ctx, routeState, `route:${ctx.match!.entry.config.name}`, key, userId);
      ctx.limits.push(routeState);
    }
    auditRefusal(audit, ctx, globalState, 'global', key, userId);
    ctx.limits.push(globalState);
    // A refusal is judged over every limit that applied: when the route's minute is up and the global
    // hour too, Retry-After must name the hour, or the client retries into another refusal.
    if (!globalState.allowed || routeState?.allowed === false) {
      throw new GatewayError('rate_limited', { headers: rateLimitHeaders(ctx.limits, true) });
    }
    setRateLimitHeaders(ctx.res, ctx.limits);
  }

  function rateLimit(ctx: RequestContext, userId: string | undefined): void | Promise<void> {
    const key = userId === undefined ? ctx.clientIpKey : userId;
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
    async giveBack(ctx: RequestContext, userId: string): Promise<void> {
      const key = userKey(userId);
      const route = perRoute.get(ctx.match!.entry.config.name);
      // Best effort: a count that cannot be given back only errs against the user, as it did before.
      await Promise.all([authenticated.refund(key), route?.refund(key)]).catch(() => undefined);
    },
    counters(ctx: RequestContext, userId: string): readonly CounterSpec[] {
      const key = userKey(userId);
      const global = authenticated.counter(key);
      const route = perRoute.get(ctx.match!.entry.config.name);
      return route === undefined ? [global] : [global, route.counter(key)];
    },
  });
}

/**
 * Counts a request refused before the limits were judged, and gives its answer: the refusal with the
 * RateLimit-* headers of the global limit, or 429 rate_limited once that limit is used up (so probing
 * with forged tokens or unknown paths stops at the limit like any other traffic). Never rejects: a
 * count that fails leaves the refusal as it was.
 */
export type RefusalCount = (ctx: RequestContext, err: GatewayError) => GatewayError | Promise<GatewayError>;

function withEveryLimit(met: readonly LimitState[], err: GatewayError): GatewayError {
  return new GatewayError(err.code, {
    message: err.message,
    headers: { ...err.headers, ...rateLimitHeaders([...met, ...err.limits!], true) },
    close: err.close,
    cause: err.cause,
  });
}

/** Codes never counted here: answers about the gateway or the store, not about the request. */
const UNCOUNTED = new Set(['rate_limited', 'state_unavailable', 'shutting_down', 'internal_error']);

export function createRefusalCount(
  config: GatewayConfig,
  limiters: LimiterBackend,
  audit: AuditLog,
): RefusalCount {
  const { anonymous, authenticated } = globalLimiters(config, limiters);

  function answer(
    ctx: RequestContext,
    err: GatewayError,
    key: string,
    userId: string | undefined,
    state: LimitState,
  ): GatewayError {
    auditRefusal(audit, ctx, state, 'global', key, userId);
    if (!state.allowed) {
      return new GatewayError('rate_limited', {
        headers: { ...err.headers, ...rateLimitHeaders([state], true) },
        close: err.close,
        cause: err,
      });
    }
    return new GatewayError(err.code, {
      message: err.message,
      headers: { ...err.headers, ...rateLimitHeaders([state], false) },
      close: err.close,
      cause: err.cause,
    });
  }

  return function countRefusal(ctx, err) {
    // An endpoint's own limit refused after the global one passed: Retry-After and RateLimit-* name the
    // most constrained of all (a login refused for a minute while the hour's global limit is used up too
    // must say the hour, or the client retries into another 429).
    if (err.limits !== undefined && ctx.limits.length !== 0) return withEveryLimit(ctx.limits, err);
    // Counted already (the limits were judged), or nothing to key on yet, or not the request's fault.
    if (ctx.limits.length !== 0 || ctx.clientIpKey === '' || UNCOUNTED.has(err.code)) return err;
    // A verified token's subject is authentic (its signature was checked): that user's counter, as for
    // the requests that pass, unless its session has ended (then the token is no longer the user's);
    // anything else (no token, a bad one, a dead session's) counts against the client's address.
    const userId = ctx.sessionEnded ? undefined : ctx.claims?.sub;
    const key = userId ?? ctx.clientIpKey;
    let counted: LimitState | Promise<LimitState>;
    try {
      counted = userId === undefined ? anonymous.consume(key) : authenticated.consume(userKey(userId));
    } catch {
      return err;
    }
    if (!(counted instanceof Promise)) return answer(ctx, err, key, userId, counted);
    return counted.then(
      (state) => answer(ctx, err, key, userId, state),
      () => err,
    );
  };
}
