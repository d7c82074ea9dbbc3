// Session-end events for every replica: when a session ends (logout, eviction, revocation, disable, refresh
// reuse) or a user's sessions change (roles), an event is published so long-lived connections close at once.
// The transport is the state store's (Redis pub/sub, or in-process for memory); this module holds no connection.
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { EndReason, StateStore } from './state-store.js';

export type SessionEvent =
  /** Sessions that no longer exist: connections of theirs are closed without asking the store. */
  | {
      readonly kind: 'ended';
      readonly userId: string;
      readonly sids: readonly string[];
      readonly reason: EndReason;
    }
  /** The user's sessions changed (roles, active flag): connections of theirs are checked again. */
  | { readonly kind: 'changed'; readonly userId: string };

export interface SessionEvents {
  /** Best effort: a lost event is caught by the subscribers' periodic check. */
  publish(event: SessionEvent): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(handler: (event: SessionEvent) => void): () => void;
  close(): Promise<void>;
}

const MAX_EVENT_BYTES = 64 * 1024;

export function encodeSessionEvent(e: SessionEvent): string {
  return JSON.stringify(
    e.kind === 'ended' ? { k: 'e', u: e.userId, s: e.sids, r: e.reason } : { k: 'c', u: e.userId },
  );
}

/** null for anything that is not an event we wrote: the channel is shared with whatever else uses the Redis. */
export function decodeSessionEvent(text: string): SessionEvent | null {
  if (text.length > MAX_EVENT_BYTES) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const { k, u, s, r } = raw as Record<string, unknown>;
  if (typeof u !== 'string' || u === '') return null;
  if (k === 'c') return { kind: 'changed', userId: u };
  if (k !== 'e' || !Array.isArray(s) || !s.every((x) => typeof x === 'string')) return null;
  if (r !== 'token_revoked' && r !== 'session_replaced') return null;
  return { kind: 'ended', userId: u, sids: s as string[], reason: r };
}

/** One process: the events never leave it, which is all a memory store can offer. */
export function createLocalSessionEvents(): SessionEvents {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(event) {
      // Delivered on the next tick, like a message from Redis: a handler never runs inside the publisher.
      setImmediate(() => emitter.emit('event', event));
    },
    subscribe(handler) {
      emitter.on('event', handler);
      return () => emitter.off('event', handler);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

/**
 * The store with every session-ending operation publishing its event. Wrapping here (rather than in each
 * caller: logout, admin, CLI, device mismatch, refresh reuse) means no path that ends a session can forget.
 */
export function publishingStore(store: StateStore, events: SessionEvents, log: Logger): StateStore {
  // Not awaited by the operation (a slow publish must not slow a logout), but by close(): a CLI command
  // that revokes and exits at once still gets its event out.
  const inFlight = new Set<Promise<void>>();
  const publish = (event: SessionEvent): void => {
    const sent = events.publish(event).catch((err: unknown) => {
      log.warn(
        { err, user: event.userId },
        'session event not published: replicas rely on their periodic check',
      );
    });
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent));
  };
  const ended = (userId: string, sids: readonly string[], reason: EndReason): void => {
    if (sids.length > 0) publish({ kind: 'ended', userId, sids, reason });
  };
  return {
    ...store,
    async createSession(record, refreshHash, limit) {
      const result = await store.createSession(record, refreshHash, limit);
      if (!result.ok) return result;
      if (result.announced !== true) ended(record.user_id, result.evicted, 'session_replaced');
      return { ok: true, evicted: result.evicted };
    },
    async endSession(userId, sid, reason) {
      const done = await store.endSession(userId, sid, reason);
      if (done) ended(userId, [sid], reason);
      return done;
    },
    async endUserSessions(userId, reason) {
      const sids = await store.endUserSessions(userId, reason);
      ended(userId, sids, reason);
      return sids;
    },
    async updateUserSessions(userId, change) {
      const count = await store.updateUserSessions(userId, change);
      if (count > 0) publish({ kind: 'changed', userId });
      return count;
    },
    async rotateRefresh(presented, next, now, graceMs, ttlMs, device, rolesOf) {
      const result = await store.rotateRefresh(presented, next, now, graceMs, ttlMs, device, rolesOf);
      if (result.kind === 'reused') ended(result.session.user_id, [result.session.sid], 'token_revoked');
      return result;
    },
    async close() {
      await Promise.all(inFlight);
      await events.close();
      await store.close();
    },
  };
}
