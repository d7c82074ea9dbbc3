// Live revocation for long-lived connections (WebSocket, SSE): each open one is ended when its session
// ends (a session event from any replica), when its access token expires, or when the periodic check finds
// the session gone, disabled or without the route's roles. It does not decide access for new requests.
import type { Logger } from './logger.js';
import type { SessionEvent, SessionEvents } from './state/session-events.js';
import type { StateStore } from './state/state-store.js';

/** RFC 6455 §7.4.2 leaves 4000-4999 to applications: 4401 and 4403 echo the HTTP statuses. */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;

export interface LiveConnection {
  readonly userId: string;
  readonly sid: string;
  readonly jti: string;
  /** When the access token the connection was opened with expires (ms). */
  readonly expiresAt: number;
  /** The route's required roles (empty: none). */
  readonly roles: readonly string[];
  /** Ends the connection: a close frame with `code` for a WebSocket, the end of the stream for SSE. */
  end(code: number, reason: string): void;
}

export interface LiveRevocation {
  /** Registers an open connection; the returned function unregisters it (call it when it closes). */
  track(connection: LiveConnection): () => void;
  size(): number;
  /** The safety-net check of every open connection (also run every `intervalMs`). */
  sweep(): Promise<void>;
  close(): void;
}

export interface LiveRevocationDeps {
  readonly state: StateStore;
  readonly events: SessionEvents;
  readonly log: Logger;
  /** The periodic check; catches events lost while the pub/sub connection was down. Default 5 s. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

interface Entry {
  readonly conn: LiveConnection;
  timer: NodeJS.Timeout | null;
}

/** setTimeout's limit (~24.8 days); a longer-lived token's timer is armed again when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createLiveRevocation(deps: LiveRevocationDeps): LiveRevocation {
  const { state, log } = deps;
  const now = deps.now ?? Date.now;
  const bySid = new Map<string, Set<Entry>>();
  const byUser = new Map<string, Set<Entry>>();

  const add = (map: Map<string, Set<Entry>>, key: string, e: Entry): void => {
    const set = map.get(key);
    if (set === undefined) map.set(key, new Set([e]));
    else set.add(e);
  };
  const remove = (map: Map<string, Set<Entry>>, key: string, e: Entry): void => {
    const set = map.get(key);
    if (set?.delete(e) && set.size === 0) map.delete(key);
  };

  function untrack(e: Entry): void {
    if (e.timer !== null) clearTimeout(e.timer);
    e.timer = null;
    remove(bySid, e.conn.sid, e);
    remove(byUser, e.conn.userId, e);
  }

  function end(e: Entry, code: number, reason: string): void {
    if (!bySid.get(e.conn.sid)?.has(e)) return;
    untrack(e);
    try {
      e.conn.end(code, reason);
    } catch (err) {
      log.warn({ err, user: e.conn.userId }, 'live connection could not be ended cleanly');
    }
  }

  /** Asks the store about each connection (all in one tick: one round trip on Redis) and ends the dead ones. */
  async function recheck(entries: readonly Entry[]): Promise<void> {
    await Promise.all(
      entries.map(async (e) => {
        const { userId, sid, jti, roles } = e.conn;
        let check: Awaited<ReturnType<StateStore['checkAccess']>>;
        try {
          check = await state.checkAccess(userId, sid, jti);
        } catch {
          // An unreachable store is not evidence of revocation: the connection was authorised when it opened,
          // new requests fail closed meanwhile, and the next check (or event) decides.
          return;
        }
        if (!check.ok) end(e, CLOSE_UNAUTHORIZED, check.reason);
        else if (!check.session.active) end(e, CLOSE_UNAUTHORIZED, 'token_revoked');
        else if (roles.length > 0 && !check.session.roles.some((r) => roles.includes(r)))
          end(e, CLOSE_FORBIDDEN, 'forbidden');
      }),
    );
  }

  function onEvent(event: SessionEvent): void {
    if (event.kind === 'ended') {
      for (const sid of event.sids) {
        for (const e of [...(bySid.get(sid) ?? [])]) {
          if (e.conn.userId === event.userId) end(e, CLOSE_UNAUTHORIZED, event.reason);
        }
      }
      return;
    }
    const entries = [...(byUser.get(event.userId) ?? [])];
    if (entries.length > 0) void recheck(entries);
  }
  const unsubscribe = deps.events.subscribe(onEvent);

  function arm(e: Entry): void {
    const left = e.conn.expiresAt - now();
    if (left <= 0) {
      end(e, CLOSE_UNAUTHORIZED, 'token_expired');
      return;
    }
    // Timers run on the loop's monotonic clock, `now` is the wall clock: a timer may fire a moment
    // before `exp` by `now`. It is armed again for what is left (arm ends it at once when nothing is).
    e.timer = setTimeout(
      () => {
        e.timer = null;
        arm(e);
      },
      Math.min(left, MAX_TIMER_MS),
    );
    e.timer.unref();
  }

  let sweeping = false;
  async function sweep(): Promise<void> {
    if (sweeping) return;
    sweeping = true;
    try {
      const all = [...bySid.values()].flatMap((set) => [...set]);
      for (const e of all) if (e.timer === null) arm(e);
      await recheck(all);
    } finally {
      sweeping = false;
    }
  }
  const interval = setInterval(() => void sweep(), deps.intervalMs ?? 5_000);
  interval.unref();

  return {
    track(conn) {
      const e: Entry = { conn, timer: null };
      add(bySid, conn.sid, e);
      add(byUser, conn.userId, e);
      arm(e);
      return () => untrack(e);
    },
    size: () => [...bySid.values()].reduce((n, set) => n + set.size, 0),
    sweep,
    close() {
      clearInterval(interval);
      unsubscribe();
      for (const set of bySid.values()) for (const e of set) if (e.timer !== null) clearTimeout(e.timer);
      bySid.clear();
      byUser.clear();
    },
  };
}
