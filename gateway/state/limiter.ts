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

/** Resolves when a connection handshake in progress ends; null when there is none (the usual case). */
type Readiness = () => Promise<void> | null;

function wrap(backing: Backing, limit: number, ready: Readiness = () => null): Limiter {
  return {
    limit,
    async consume(key) {
      try {
        // Awaited only during a handshake: otherwise the command leaves in this tick, in the same
        // auto-pipelined write as the session check.
        const pending = ready();
        if (pending !== null) await pending;
        return state(limit, await backing.consume(key), true);
      } catch (err) {
        if (err instanceof RateLimiterRes) return state(limit, err, false);
        throw storeError(err);
      }
    },
    async peek(key) {
      try {
        await ready();
        const res = await backing.get(key);
        return state(limit, res, res === null || res.consumedPoints < limit);
      } catch (err) {
        throw storeError(err);
      }
    },
    async block(key, ms) {
      try {
        await ready();
        await backing.block(key, Math.max(1, Math.ceil(ms / 1000)));
      } catch (err) {
        throw storeError(err);
      }
    },
    async reset(key) {
      try {
        await ready();
        await backing.delete(key);
      } catch (err) {
        throw storeError(err);
      }
    },
    async refund(key) {
      try {
        await ready();
        await backing.reward(key, 1);
      } catch (err) {
        throw storeError(err);
      }
    },
  };
}

/** A duration of 0 means the counter never resets (rate-limiter-flexible's convention). */
const seconds = (rate: Rate): number =>
  rate.duration_ms === 0 ? 0 : Math.max(1, Math.round(rate.duration_ms / 1000));

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

/** What the limiters read of the ioredis client (structural: ioredis is imported by redis-store.ts only). */
export interface RedisConnection {
  readonly status: string;
  once(event: 'ready' | 'close', listener: () => void): unknown;
  off(event: 'ready' | 'close', listener: () => void): unknown;
}

/** How long a command waits for a connection handshake in progress (DESIGN.md: 1 s, then unavailable). */
const HANDSHAKE_WAIT_MS = 1000;

/**
 * rate-limiter-flexible refuses every command while the client is not `ready` (rejectIfRedisNotReady),
 * which is right for a dead connection but wrong for one being opened: the first login after a start
 * (or an operator command, which opens its connection and acts at once) would fail or, for
 * availability limits, count in memory. So a command waits for a handshake in progress, bounded.
 */
function handshakeWaiter(client: RedisConnection): Readiness {
  let pending: Promise<void> | null = null;
  return () => {
    const s = client.status;
    if (s !== 'wait' && s !== 'connecting' && s !== 'connect') return null;
    pending ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('ready', done);
        client.off('close', done);
        pending = null;
        resolve();
      };
      const timer = setTimeout(done, HANDSHAKE_WAIT_MS);
      client.once('ready', done);
      client.once('close', done);
    });
    return pending;
  };
}

/** `client` is the ioredis connection of the Redis state store, shared so limits cost no extra connection. */
export function createRedisLimiters(client: RedisConnection, prefix: string): LimiterBackend {
  const ready = handshakeWaiter(client);
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
    return wrap(backing, rate.points, ready);
  });
}
