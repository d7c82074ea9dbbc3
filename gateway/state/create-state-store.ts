// Picks the state backend from `storage.state`: `memory` (one process) or a Redis URL (redis://,
// rediss://, redis-sentinel://, redis-cluster://). Does not validate the rest of the config or wait for Redis.
import type { Logger } from '../logger.js';
import { createMemoryLimiters, type LimiterBackend } from './limiter.js';
import { createMemoryStateStore } from './memory-store.js';
import { createLocalSessionEvents, publishingStore, type SessionEvents } from './session-events.js';
import type { StateStore } from './state-store.js';

export interface StateBackend {
  /** Every operation that ends a session also publishes it on `events`. */
  readonly store: StateStore;
  /** Rate-limit and lockout counters on the same backend (and, for Redis, the same connection). */
  readonly limiters: LimiterBackend;
  /** Session-end events: Redis pub/sub, or in-process for memory. Closed with the store. */
  readonly events: SessionEvents;
}

export interface StateStoreOptions {
  readonly tombstoneTtlMs: number;
  readonly log: Logger;
}

/**
 * Never waits for the backend: a Redis store created while Redis is down answers state_unavailable
 * and recovers by itself. Throws only for a URL it cannot read (the message never repeats the URL).
 */
export async function createStateStore(url: string, options: StateStoreOptions): Promise<StateBackend> {
  if (url === 'memory') {
    const events = createLocalSessionEvents();
    const store = createMemoryStateStore({ tombstoneTtlMs: options.tombstoneTtlMs });
    return { store: publishingStore(store, events, options.log), limiters: createMemoryLimiters(), events };
  }
  // ioredis is loaded only when a Redis URL is configured: a one-machine gateway never pays its memory.
  const { createRedisStateStore } = await import('./redis-store.js');
  const redis = createRedisStateStore(url, options);
  return { ...redis, store: publishingStore(redis.store, redis.events, options.log) };
}
