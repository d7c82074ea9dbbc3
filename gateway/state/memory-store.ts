// The in-process StateStore: the embedded default for one gateway process. Everything lives in Maps
// with expiry times, swept periodically. Restarting the process empties it: every session is gone
// and users log in again (fail closed). Not for several processes: the config check refuses that.
import {
  type AccessCheck,
  type CreateSessionResult,
  type EndReason,
  MAX_CURRENT_REFRESH,
  MAX_SPENT_REFRESH,
  type RolesOf,
  type RotateResult,
  type SessionLimit,
  type SessionRecord,
  type StateStore,
} from './state-store.js';

interface LiveSession {
  record: SessionRecord;
  /** Current refresh hashes, oldest first (Set keeps insertion order). */
  readonly current: Set<string>;
  /** Refresh hashes spent less than the grace ago (as of the last write) → when, oldest first. */
  readonly spent: Map<string, number>;
}

interface Owner {
  readonly userId: string;
  readonly sid: string;
}

interface Expiring<T> {
  readonly value: T;
  readonly expires: number;
}

const SWEEP_INTERVAL_MS = 30_000;

/**
 * Adds `next` to the current set and forgets what the rule no longer needs: spent tokens the grace or
 * longer ago, then the oldest beyond the bounds (state-store.ts says why they are what they are). A
 * dropped hash keeps its index entry, so presented it is reuse.
 */
function keepBounded(s: LiveSession, at: number, graceMs: number, next: string): void {
  for (const [hash, spentAt] of s.spent) if (at - spentAt >= graceMs) s.spent.delete(hash);
  for (const hash of s.spent.keys()) {
    if (s.spent.size <= MAX_SPENT_REFRESH) break;
    s.spent.delete(hash);
  }
  s.current.add(next);
  for (const hash of s.current) {
    if (s.current.size <= MAX_CURRENT_REFRESH) break;
    s.current.delete(hash);
  }
}

export interface MemoryStoreOptions {
  readonly tombstoneTtlMs: number;
  readonly now?: () => number;
}

export function createMemoryStateStore(options: MemoryStoreOptions): StateStore {
  const now = options.now ?? Date.now;
  const sessions = new Map<string, LiveSession>();
  const byUser = new Map<string, Set<string>>();
  const tombstones = new Map<string, Expiring<EndReason>>();
  const jtis = new Map<string, number>();
  /** Refresh hash → the session it was issued to (kept after the session ends, until it expires). */
  const refreshIndex = new Map<string, Expiring<Owner>>();
  const profiles = new Map<string, Expiring<string>>();
  const seen = new Map<string, number>();
  /** Role changes pushed per user (updateUserSessions): what rotateRefresh's `rolesOf` is checked against. */
  const roleChanges = new Map<string, number>();

  function live(sid: string, at = now()): LiveSession | null {
    const s = sessions.get(sid);
    if (s === undefined) return null;
    if (s.record.expires_at <= at) {
      drop(s, null);
      return null;
    }
    return s;
  }

  function drop(s: LiveSession, reason: EndReason | null): void {
    const { sid, user_id } = s.record;
    sessions.delete(sid);
    byUser.get(user_id)?.delete(sid);
    if (byUser.get(user_id)?.size === 0) byUser.delete(user_id);
    // Refresh index entries stay until they expire: a refresh token of an ended session then answers
    // with the tombstone's reason (token_revoked, session_replaced) instead of a bare invalid_token.
    if (reason !== null) tombstones.set(sid, { value: reason, expires: now() + options.tombstoneTtlMs });
  }

  function tombstone(sid: string): EndReason | null {
    const t = tombstones.get(sid);
    return t !== undefined && t.expires > now() ? t.value : null;
  }

  function userSessions(userId: string): LiveSession[] {
    const at = now();
    const out: LiveSession[] = [];
    for (const sid of byUser.get(userId) ?? []) {
      const s = live(sid, at);
      if (s !== null) out.push(s);
    }
    return out.sort((a, b) => a.record.created_at - b.record.created_at);
  }

  function sweep(): void {
    const at = now();
    for (const s of [...sessions.values()]) if (s.record.expires_at <= at) drop(s, null);
    for (const [k, v] of tombstones) if (v.expires <= at) tombstones.delete(k);
    for (const [k, v] of jtis) if (v <= at) jtis.delete(k);
    for (const [k, v] of refreshIndex) if (v.expires <= at) refreshIndex.delete(k);
    for (const [k, v] of profiles) if (v.expires <= at) profiles.delete(k);
    for (const [k, v] of seen) if (v <= at) seen.delete(k);
    // A user without sessions has no rotation in flight whose roles could be stale.
    for (const k of roleChanges.keys()) if (!byUser.has(k)) roleChanges.delete(k);
  }

  /** rolesOf's answer, or null when it is null or a role change was pushed while it was read. */
  async function currentRoles(userId: string, rolesOf: RolesOf): Promise<readonly string[] | null> {
    const before = roleChanges.get(userId) ?? 0;
    const roles = await rolesOf(userId);
    return roles !== null && (roleChanges.get(userId) ?? 0) === before ? Object.freeze([...roles]) : null;
  }
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
  timer.unref();

  return {
    kind: 'memory',
    async createSession(
      record: SessionRecord,
      refreshHash: string,
      limit: SessionLimit,
    ): Promise<CreateSessionResult> {
      const existing = userSessions(record.user_id);
      const excess = existing.length - limit.max_active + 1;
      if (excess > 0 && limit.on_exceed === 'reject_new') return { ok: false, reason: 'too_many_sessions' };
      const evicted = excess > 0 ? existing.slice(0, excess) : [];
      for (const s of evicted) drop(s, 'session_replaced');
      sessions.set(record.sid, { record, current: new Set([refreshHash]), spent: new Map() });
      let set = byUser.get(record.user_id);
      if (set === undefined) {
        set = new Set();
        byUser.set(record.user_id, set);
      }
      set.add(record.sid);
      refreshIndex.set(refreshHash, {
        value: { userId: record.user_id, sid: record.sid },
        expires: record.expires_at,
      });
      return { ok: true, evicted: evicted.map((s) => s.record.sid) };
    },

    // Counts no counters: the memory limiters (rate-limiter-flexible) do, in the same process.
    async checkAccess(userId: string, sid: string, jti: string): Promise<AccessCheck> {
      const s = live(sid);
      if (s === null || s.record.user_id !== userId) {
        return { ok: false, reason: tombstone(sid) ?? 'token_revoked' };
      }
      const revokedUntil = jtis.get(jti);
      if (revokedUntil !== undefined && revokedUntil > now()) return { ok: false, reason: 'token_revoked' };
      return { ok: true, session: s.record };
    },

    async endSession(userId: string, sid: string, reason: EndReason): Promise<boolean> {
      const s = live(sid);
      if (s === null || s.record.user_id !== userId) return false;
      drop(s, reason);
      return true;
    },

    async endUserSessions(userId: string, reason: EndReason): Promise<string[]> {
      const all = userSessions(userId);
      for (const s of all) drop(s, reason);
      return all.map((s) => s.record.sid);
    },

    async listUserSessions(userId: string): Promise<SessionRecord[]> {
      return userSessions(userId).map((s) => s.record);
    },

    async updateUserSessions(userId, change): Promise<number> {
      if (change.roles !== undefined) roleChanges.set(userId, (roleChanges.get(userId) ?? 0) + 1);
      const all = userSessions(userId);
      for (const s of all) {
        s.record = Object.freeze({
          ...s.record,
          roles: change.roles === undefined ? s.record.roles : Object.freeze([...change.roles]),
          active: change.active ?? s.record.active,
        });
      }
      return all.length;
    },

    touchSession(_userId: string, sid: string, at: number): void {
      const s = sessions.get(sid);
      if (s !== undefined) s.record = Object.freeze({ ...s.record, last_seen: at });
    },

    async revokeJti(_userId: string, jti: string, expiresAt: number): Promise<void> {
      if (expiresAt > now()) jtis.set(jti, expiresAt);
    },

    async refreshOwner(presented) {
      const entry = refreshIndex.get(presented);
      return entry === undefined || entry.expires <= now() ? null : entry.value;
    },

    async rotateRefresh(presented, next, at, graceMs, ttlMs, device, rolesOf): Promise<RotateResult> {
      const owner = refreshIndex.get(presented);
      if (owner === undefined || owner.expires <= at) return { kind: 'unknown', reason: null };
      const roles = rolesOf === undefined ? null : await currentRoles(owner.value.userId, rolesOf);
      // From here on nothing awaits: the rotation is atomic, on the index and session as they are now.
      const entry = refreshIndex.get(presented);
      if (entry === undefined || entry.expires <= at) return { kind: 'unknown', reason: null };
      const s = live(entry.value.sid, at);
      if (s === null) return { kind: 'unknown', reason: tombstone(entry.value.sid) };
      if (s.record.device !== '' && s.record.device !== device)
        return { kind: 'device_mismatch', session: s.record };
      // The rule is RotateResult's (state-store.ts); redis-scripts.ts's `rotate` is the same, step by step.
      const expires = at + ttlMs;
      const withRoles = (r: SessionRecord): SessionRecord =>
        roles === null ? r : Object.freeze({ ...r, roles });
      if (s.current.delete(presented)) {
        // The spent token stays indexed so a later replay is recognised as reuse, not as unknown.
        s.spent.set(presented, at);
        keepBounded(s, at, graceMs, next);
        s.record = withRoles(Object.freeze({ ...s.record, expires_at: expires, last_seen: at }));
        refreshIndex.set(next, { value: entry.value, expires });
        refreshIndex.set(presented, { value: entry.value, expires });
        return { kind: 'rotated', session: s.record };
      }
      const spentAt = s.spent.get(presented);
      if (spentAt !== undefined && at - spentAt < graceMs) {
        keepBounded(s, at, graceMs, next);
        s.record = withRoles(s.record);
        refreshIndex.set(next, { value: entry.value, expires });
        return { kind: 'grace', session: s.record };
      }
      const record = s.record;
      drop(s, 'token_revoked');
      return { kind: 'reused', session: record };
    },

    async getProfile(userId: string): Promise<string | null> {
      const entry = profiles.get(userId);
      return entry !== undefined && entry.expires > now() ? entry.value : null;
    },
    async setProfile(userId: string, json: string, ttlMs: number): Promise<void> {
      profiles.set(userId, { value: json, expires: now() + ttlMs });
    },
    async dropProfile(userId: string): Promise<void> {
      profiles.delete(userId);
    },

    async firstSeen(key: string, ttlMs: number): Promise<boolean> {
      const at = now();
      const until = seen.get(key);
      if (until !== undefined && until > at) return false;
      seen.set(key, at + ttlMs);
      return true;
    },

    async ping(): Promise<void> {},
    async close(): Promise<void> {
      clearInterval(timer);
    },
  };
}
