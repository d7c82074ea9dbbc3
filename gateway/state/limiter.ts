// The rate-limiter-flexible adapter (the only module importing it): fixed-window counters in process
// memory or in Redis. Availability limits fall back to memory when Redis fails (insurance); account
// protections (lockout) fail closed with state_unavailable instead. On Redis a hit is counted by the
// store's batched counting script (CountOp), with the library's own counter semantics; a per-user
// counter can also be counted by StateStore.checkAccess in the session check's round trip (counter /
// read).
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Rate } from '../../config/types.js';
import { GatewayError } from '../errors.js';
import { userTag } from './redis-codec.js';
import { type CounterHit, type CounterSpec, FAILURE_PAUSE_MS } from './state-store.js';

export interface LimitState {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Hits counted in this window, refused ones included (limit + 1 = the first refusal). */
  readonly consumed: number;
  /** Until the window resets (or the block ends). */
  readonly resetMs: number;
}

/** A limiter's answer: at once from process memory, a promise from Redis. */
export type Counted = LimitState | Promise<LimitState>;

export interface Limiter {
  readonly limit: number;
  /**
   * Counts one hit; `allowed` is false once the window's points are used up. A limiter in process memory
   * answers at once (no promise): the public path then runs without a single microtask.
   */
  consume(key: string): Counted;
  /** What StateStore.checkAccess needs to count a hit on `key` as consume would (same stored counter). */
  counter(key: string): CounterSpec;
  /** The state after a hit the store counted: what consume would have answered. */
  read(hit: CounterHit): LimitState;
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

/** What RateLimiterMemory keeps its counters in: it counts synchronously, then wraps the answer in a promise. */
interface MemoryCounters {
  readonly _memoryStorage?: { incrby?(key: string, points: number, seconds: number): RateLimiterRes };
}

/**
 * Counts one hit on a memory limiter without the promise its consume() wraps around the same count
 * (the library's own storage and arithmetic, answered at once). Null when a version of the library
 * keeps its counters elsewhere: consume() is used then.
 */
function countNow(backing: RateLimiterMemory, seconds: number): ((key: string) => RateLimiterRes) | null {
  const storage = (backing as unknown as MemoryCounters)._memoryStorage;
  if (typeof storage?.incrby !== 'function') return null;
  const incrby = storage.incrby.bind(storage);
  return (key) => incrby(backing.getKey(key), 1, seconds);
}

/** The library's answer of a read as the store's: a missing counter reads {0, 0}. */
const asHit = (res: RateLimiterRes | null): CounterHit =>
  res === null ? [0, 0] : [res.consumedPoints, res.msBeforeNext];

const counted = (limit: number, consumed: number, ms: number, allowed: boolean): LimitState => ({
  allowed,
  limit,
  consumed,
  remaining: Math.max(0, limit - consumed),
  resetMs: Math.max(0, ms),
});

function state(limit: number, res: RateLimiterRes | null, allowed: boolean): LimitState {
  if (res === null) return counted(limit, 0, 0, true);
  return counted(limit, res.consumedPoints, res.msBeforeNext, allowed);
}

/**
 * The key of a per-user counter: the user's hash tag, so that on Redis Cluster it sits in the slot of
 * the user's session keys and checkAccess counts it in the same script.
 */
export const userKey: (userId: string) => string = userTag;

function storeError(err: unknown): GatewayError {
  return new GatewayError('state_unavailable', { cause: err });
}

/** Resolves when a connection handshake in progress ends; null when there is none (the usual case). */
export type Readiness = () => Promise<void> | null;

/** Remembers a recent store failure so the next commands do not each wait for their own timeout. */
export interface Breaker {
  open(): boolean;
  trip(err: unknown): void;
}

const CLOSED: Breaker = { open: () => false, trip: () => undefined };

interface Backed {
  readonly backing: Backing;
  readonly ready: Readiness;
  readonly breaker: Breaker;
  /** Availability limits count here while the store fails; null for account protections (fail closed). */
  readonly insurance: RateLimiterMemory | null;
  /** Runs a counter operation on Redis in the command shared by those of one turn; null in memory. */
  readonly count: CountOp | null;
}

/**
 * One operation on a counter, as rate-limiter-flexible does it to the same key and stored value: `h`
 * counts a hit (consume), `g` reads (get), `r` gives one hit back (reward), `d` resets (delete).
 */
export interface CounterOp extends CounterSpec {
  readonly op: 'h' | 'g' | 'r' | 'd';
}

/**
 * Runs a counter operation on Redis in one command with the other operations of the same event-loop
 * turn; answers {consumed, ttl ms} as a hit does ({0, 0} for a missing counter or a reset). Rejects
 * with the store's error, for the limiter to fall back to its insurance or fail closed.
 */
export type CountOp = (op: CounterOp) => Promise<CounterHit>;

function wrap(b: Backed, limit: number, seconds: number): Limiter {
  const { backing, ready, breaker, insurance, count } = b;
  const local = backing instanceof RateLimiterMemory;
  const now = local ? countNow(backing, seconds) : null;
  const allowed = (res: RateLimiterRes): LimitState => state(limit, res, true);
  const refused = (err: unknown): LimitState => {
    if (err instanceof RateLimiterRes) return state(limit, err, false);
    throw err;
  };
  const counter = (key: string): CounterSpec => ({ key: backing.getKey(key), seconds });
  // rate-limiter-flexible refuses a hit once the count exceeds the points.
  const within = (consumed: number): boolean => consumed <= limit;
  const read = ([consumed, ttlMs]: CounterHit): LimitState =>
    counted(limit, consumed, ttlMs, within(consumed));
  const consumeOn = (on: Backing, key: string): Promise<LimitState> => on.consume(key).then(allowed, refused);

  /** Runs `op` on the store, else on the insurance, else fails with state_unavailable. */
  async function run<T>(op: (on: Backing) => Promise<T>): Promise<T> {
    if (!breaker.open()) {
      try {
        // Awaited only during a handshake: otherwise the operation joins this turn's counting command.
        const pending = ready();
        if (pending !== null) await pending;
        return await op(backing);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw err;
        breaker.trip(err);
        if (insurance === null) throw storeError(err);
      }
    } else if (insurance === null) {
      throw storeError(new Error('state store failed less than a second ago'));
    }
    return op(insurance);
  }

  /** An operation on the stored counter: one entry of the turn's counting script. */
  const stored = (key: string, op: CounterOp['op']): CounterOp => ({ key: backing.getKey(key), seconds, op });
  /** `op` by the store's counting script on Redis; in memory, and on the insurance, the library's `call`. */
  const operate = <T>(key: string, op: CounterOp['op'], call: (on: Backing) => Promise<T>) =>
    run<CounterHit | T>((on) => (on === backing && count !== null ? count(stored(key, op)) : call(on)));

  return {
    limit,
    consume(key) {
      if (now !== null) {
        const res = now(key);
        return state(limit, res, within(res.consumedPoints));
      }
      // In process memory nothing can fail: the library's promise is the only one a request waits on.
      if (count === null) return consumeOn(backing, key);
      // On Redis the store counts the hit; while it fails, the insurance counts with the library.
      return run((on) => (on === backing ? count(stored(key, 'h')).then(read) : consumeOn(on, key)));
    },
    counter,
    read,
    async peek(key) {
      // A read is never refused: `allowed` says whether a hit would still be (the library's get).
      const [consumed, ttlMs] = await operate(key, 'g', (on) => on.get(key).then(asHit));
      return counted(limit, consumed, ttlMs, consumed < limit);
    },
    async block(key, ms) {
      await run((on) => on.block(key, Math.max(1, Math.ceil(ms / 1000))));
    },
    async reset(key) {
      await operate(key, 'd', (on) => on.delete(key));
    },
    async refund(key) {
      await operate(key, 'r', (on) => on.reward(key, 1));
    },
  };
}

/** A duration of 0 means the counter never resets (rate-limiter-flexible's convention). */
const seconds = (rate: Rate): number =>
  rate.duration_ms === 0 ? 0 : Math.max(1, Math.round(rate.duration_ms / 1000));

/**
 * The same (name, rate) gets the same limiter, so a config reload keeps every counter. A new rate under
 * a known name gets a new limiter over the same counters: Redis keeps them under the name's key prefix,
 * memory through `sharedCounters` (a reload that tightens brute_force must not release every lock).
 */
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

/**
 * One memory storage per limiter name, whatever rates it is built with (the library keeps a record's
 * expiry and count there, as Redis does under the key): a limiter built for a new rate carries on the
 * counts and locks of the one before. Without the library's storage field the new one starts empty.
 */
function sharedCounters(): (name: string, backing: RateLimiterMemory) => RateLimiterMemory {
  const byName = new Map<string, unknown>();
  return (name, backing) => {
    const own = backing as unknown as { _memoryStorage?: unknown };
    if (own._memoryStorage === undefined) return backing;
    const kept = byName.get(name);
    if (kept === undefined) byName.set(name, own._memoryStorage);
    else own._memoryStorage = kept;
    return backing;
  };
}

export function createMemoryLimiters(): LimiterBackend {
  const share = sharedCounters();
  return cached((name, rate) => {
    const backing = share(
      name,
      new RateLimiterMemory({ keyPrefix: name, points: rate.points, duration: seconds(rate) }),
    );
    const backed = { backing, ready: () => null, breaker: CLOSED, insurance: null, count: null };
    return wrap(backed, rate.points, seconds(rate));
  });
}

/** What the limiters read of the ioredis client (structural: ioredis is imported by redis-store.ts only). */
export interface RedisConnection {
  readonly status: string;
  on(event: 'ready', listener: () => void): unknown;
  once(event: 'ready' | 'close', listener: () => void): unknown;
  off(event: 'ready' | 'close', listener: () => void): unknown;
}

/** How long after a store failure commands skip Redis (DESIGN.md's bound on an unreachable store). */
const BREAKER_MS = FAILURE_PAUSE_MS;

/**
 * A frozen Redis answers nothing: every command waits for its 1 s timeout. A login makes several
 * limiter round trips in a row (global, login limits, lock), so without this it took one timeout
 * each. After a failure, limits answer from memory and locks fail closed at once, until the window
 * ends (the next command probes Redis again) or the connection is ready again. A reply error (the
 * server answered) is not an outage and trips nothing.
 */
export function createBreaker(client: RedisConnection): Breaker {
  let until = 0;
  client.on('ready', () => {
    until = 0;
  });
  return {
    open: () => until !== 0 && Date.now() < until,
    trip(err) {
      if (err instanceof Error && err.name === 'ReplyError') return;
      until = Date.now() + BREAKER_MS;
    },
  };
}

/** How long a command waits for a connection handshake in progress (DESIGN.md: 1 s, then unavailable). */
const HANDSHAKE_WAIT_MS = 1000;

/**
 * rate-limiter-flexible refuses every command while the client is not `ready` (rejectIfRedisNotReady),
 * which is right for a dead connection but wrong for one being opened: the first login after a start
 * (or an operator command, which opens its connection and acts at once) would fail or, for
 * availability limits, count in memory. So a command waits for a handshake in progress, bounded.
 */
export function handshakeWaiter(client: RedisConnection): Readiness {
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

/**
 * `client` is the ioredis connection of the Redis state store, shared so limits cost no extra connection;
 * so are its breaker and its handshake waiter. Hits are counted by `count` (the store's batched counting
 * script), and so are the reads, resets and refunds; the library blocks the same counters.
 */
export function createRedisLimiters(
  client: RedisConnection,
  prefix: string,
  breaker: Breaker,
  ready: Readiness,
  count: CountOp,
): LimiterBackend {
  const share = sharedCounters();
  return cached((name, rate, options) => {
    const base = { keyPrefix: `${prefix}rl:${name}`, points: rate.points, duration: seconds(rate) };
    // The insurance is ours, not the library's insuranceLimiter: the breaker must see every failure.
    const insurance = options.failClosed ? null : share(name, new RateLimiterMemory(base));
    // Never queue behind a dead connection: answer from insurance or fail closed at once.
    const backing = new RateLimiterRedis({ ...base, storeClient: client, rejectIfRedisNotReady: true });
    return wrap({ backing, ready, breaker, insurance, count }, rate.points, base.duration);
  });
}
