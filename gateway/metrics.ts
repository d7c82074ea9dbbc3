// What the gateway reports to its metrics (the interface the listener and the state store call) and
// the StateStore decorator that times every call. No metrics library here: admin/metrics.ts is the adapter.
import { performance } from 'node:perf_hooks';
import type { RequestContext } from './pipeline/context.js';
import type { SessionRecord, StateStore } from './state/state-store.js';

/** The StateStore methods that return a promise: the ones worth timing. */
export type StateOp = Exclude<keyof StateStore, 'kind' | 'touchSession'>;

export interface GatewayMetrics {
  /** Once per finished request (or closed upgrade) on the main listener, from the access-log hook. */
  request(ctx: RequestContext): void;
  /** A request Node's parser refused before it became one (malformed, head too large or too slow). */
  refused(status: number): void;
  /** A recorder for one state-store operation: seconds taken and whether it failed. */
  stateOp(op: StateOp): (seconds: number, failed: boolean) => void;
}

const ignore = (): void => undefined;

export const NO_METRICS: GatewayMetrics = { request: ignore, refused: ignore, stateOp: () => ignore };

export interface InstrumentedStateStore extends StateStore {
  /**
   * Sessions this process created or saw renewed, minus those it saw end or that have expired. A
   * per-process approximation: sessions created or ended by another replica are not seen.
   */
  activeSessions(): number;
}

/** Wraps every store call with timing and failure counts, and tracks the sessions it sees for the gauge. */
export function instrumentStateStore(store: StateStore, metrics: GatewayMetrics): InstrumentedStateStore {
  const live = new Map<string, number>(); // sid → expires_at (ms)
  const seen = (s: SessionRecord): void => {
    live.set(s.sid, s.expires_at);
  };

  function timed<A extends unknown[], R>(
    op: StateOp,
    call: (...args: A) => Promise<R>,
  ): (...args: A) => Promise<R> {
    // One recorder per operation, made here: nothing is looked up or allocated per label per call.
    const record = metrics.stateOp(op);
    return (...args) => {
      const started = performance.now();
      return call(...args).then(
        (result) => {
          record((performance.now() - started) / 1000, false);
          return result;
        },
        (err: unknown) => {
          record((performance.now() - started) / 1000, true);
          throw err;
        },
      );
    };
  }

  return {
    kind: store.kind,
    createSession: timed('createSession', async (record, refreshHash, limit) => {
      const result = await store.createSession(record, refreshHash, limit);
      if (result.ok) {
        seen(record);
        for (const sid of result.evicted) live.delete(sid);
      }
      return result;
    }),
    checkAccess: timed('checkAccess', (userId, sid, jti, counters) =>
      store.checkAccess(userId, sid, jti, counters),
    ),
    endSession: timed('endSession', async (userId, sid, reason) => {
      const ended = await store.endSession(userId, sid, reason);
      live.delete(sid);
      return ended;
    }),
    endUserSessions: timed('endUserSessions', async (userId, reason) => {
      const ended = await store.endUserSessions(userId, reason);
      for (const sid of ended) live.delete(sid);
      return ended;
    }),
    listUserSessions: timed('listUserSessions', (userId) => store.listUserSessions(userId)),
    updateUserSessions: timed('updateUserSessions', (userId, change) =>
      store.updateUserSessions(userId, change),
    ),
    touchSession: (userId, sid, at) => store.touchSession(userId, sid, at),
    revokeJti: timed('revokeJti', (userId, jti, expiresAt) => store.revokeJti(userId, jti, expiresAt)),
    rotateRefresh: timed('rotateRefresh', async (presented, next, now, graceMs, ttlMs, device, rolesOf) => {
      const result = await store.rotateRefresh(presented, next, now, graceMs, ttlMs, device, rolesOf);
      if (result.kind === 'rotated' || result.kind === 'grace') seen(result.session);
      else if (result.kind === 'reused') live.delete(result.session.sid);
      return result;
    }),
    refreshOwner: timed('refreshOwner', (presented) => store.refreshOwner(presented)),
    getProfile: timed('getProfile', (userId) => store.getProfile(userId)),
    setProfile: timed('setProfile', (userId, json, ttlMs) => store.setProfile(userId, json, ttlMs)),
    dropProfile: timed('dropProfile', (userId) => store.dropProfile(userId)),
    firstSeen: timed('firstSeen', (key, ttlMs) => store.firstSeen(key, ttlMs)),
    ping: timed('ping', () => store.ping()),
    close: timed('close', () => store.close()),
    activeSessions() {
      const now = Date.now();
      for (const [sid, expires] of live) if (expires <= now) live.delete(sid);
      return live.size;
    },
  };
}
