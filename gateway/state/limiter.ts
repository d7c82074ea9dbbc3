// The rate-limiter-flexible adapter (the only module importing it): fixed-window counters in process
// memory or in Redis. Availability limits fall back to memory when Redis fails (insurance); account
// protections (lockout) fail closed with state_unavailable instead.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Rate } from '../../config/types.js';
import { GatewayError } from '../errors.js';

export interface LimitState {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Hits counted in this window, refused ones included (limit + 1 = the first refusal). */
  readonly consumed: number;
  /** Until the window resets (or the block ends). */
  readonly resetMs: number;
}

export interface Limiter {
  readonly limit: number;
  /** Counts one hit; `allowed` is false once the window's points are used up. */
  consume(key: string): Promise<LimitState>;
  /** The current state without counting. */
  peek(key: string): Promise<LimitState>;
  /** Locks the key for `ms` (lockout after the failure that reached the limit). */
  block(key: string, ms: number): Promise<void>;
  reset(key: string): Promise<void>;
  /** Gives back one counted hit (an attempt counted up front that turned out fine). */
  refund(key: string): Promise<void>;
}

export interface LimiterOptions {
  /** true: a store error is state_unavailable (account protection). false: use the in-memory insurance. */
  readonly failClosed: boolean;
}

export interface LimiterBackend {
  create(name: string, rate: Rate, options: LimiterOptions): Limiter;
}

type Backing = RateLimiterMemory | RateLimiterRedis;

function state(limit: number, res: RateLimiterRes | null, allowed: boolean): LimitState {
  if (res === null) return { allowed: true, limit, remaining: limit, consumed: 0, resetMs: 0 };
  return {
    allowed,
    limit,
    consumed: res.consumedPoints,
    remaining: Math.max(0, limit - res.consumedPoints),
    resetMs: Math.max(0, res.msBeforeNext),
  };
}

function storeError(err: unknown): GatewayError {
  return new GatewayError('state_unavailable', { cause: err });
}

function wrap(backing: Backing, limit: number): Limiter {
  return {
    limit,
    async consume(key) {
      try {
        return state(limit, await backing.consume(key), true);
      } catch (err) {
        if (err instanceof RateLimiterRes) return state(limit, err, false);
        throw storeError(err);
      }
    },
    async peek(key) {
      try {
        const res = await backing.get(key);
        return state(limit, res, res === null || res.consumedPoints < limit);
      } catch (err) {
        throw storeError(err);
      }
    },
    async block(key, ms) {
      try {
        await backing.block(key, Math.max(1, Math.ceil(ms / 1000)));
      } catch (err) {
        throw storeError(err);
      }
    },
    async reset(key) {
      try {
        await backing.delete(key);
      } catch (err) {
        throw storeError(err);
      }
    },
    async refund(key) {
      try {
        await backing.reward(key, 1);
      } catch (err) {
        throw storeError(err);
      }
    },
  };
}

const seconds = (rate: Rate): number => Math.max(1, Math.round(rate.duration_ms / 1000));

/** The same (name, rate) gets the same limiter, so a config reload keeps every counter. */
function cached(create: LimiterBackend['create']): LimiterBackend {
  const made = new Map<string, Limiter>();
  return {
    create(name, rate, options) {
      const key = `${name}|${rate.points}|${rate.duration_ms}|${options.failClosed}`;
      let limiter = made.get(key);
      if (limiter === undefined) {
        limiter = create(name, rate, options);
        made.set(key, limiter);
      }
      return limiter;
    },
  };
}

export function createMemoryLimiters(): LimiterBackend {
  return cached((name, rate) =>
    wrap(
      new RateLimiterMemory({ keyPrefix: name, points: rate.points, duration: seconds(rate) }),
      rate.points,
    ),
  );
}

/** `client` is the ioredis connection of the Redis state store, shared so limits cost no extra connection. */
export function createRedisLimiters(client: object, prefix: string): LimiterBackend {
  return cached((name, rate, options) => {
    const base = { keyPrefix: `${prefix}rl:${name}`, points: rate.points, duration: seconds(rate) };
    const insurance = options.failClosed ? undefined : new RateLimiterMemory(base);
    const backing = new RateLimiterRedis({
      ...base,
      storeClient: client,
      // Never queue behind a dead connection: answer from insurance or fail closed at once.
      rejectIfRedisNotReady: true,
      ...(insurance === undefined ? {} : { insuranceLimiter: insurance }),
    });
    return wrap(backing, rate.points);
  });
}
