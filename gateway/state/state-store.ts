// The StateStore contract: the session allow-list, tombstones, revoked token ids, refresh-token
// families and the profile cache. Implementations: memory-store.ts (one process) and redis-store.ts.
// Rate-limit and lockout counters are not here: they use rate-limiter-flexible's counters on the same
// backend (limiter.ts), and checkAccess may count per-user hits in the same round trip (CounterSpec).

/** Why a session stopped existing; what a token of that session is answered with. */
export type EndReason = 'token_revoked' | 'session_replaced';

export interface SessionRecord {
  readonly sid: string;
  readonly user_id: string;
  readonly email: string;
  readonly roles: readonly string[];
  readonly active: boolean;
  /** Device binding: userAgentHash() of the login's User-Agent, a DPoP key thumbprint, or '' (off). */
  readonly device: string;
  readonly ip: string;
  readonly user_agent: string;
  readonly created_at: number; // ms
  readonly last_seen: number; // ms
  /** When the session (and its refresh tokens) expire: created_at + refresh_ttl, renewed on rotation. */
  readonly expires_at: number; // ms
}

/**
 * A fixed-window counter that checkAccess counts one hit on, in the same round trip as the session
 * check. limiter.ts makes it with rate-limiter-flexible's own key and window, so the library's peek,
 * reset and block see the same count. On Redis the key must be in the user's hash slot.
 */
export interface CounterSpec {
  readonly key: string;
  /** The window in whole seconds; 0: the counter never resets. */
  readonly seconds: number;
}

/** A counter after the hit: hits in the window (this one included) and ms until it resets (-1: never). */
export type CounterHit = readonly [consumed: number, ttlMs: number];

/**
 * One answer for the hot path: the session, or why there is none. `counted`: one hit per counter
 * asked for, in their order; absent when the store does not count (memory: the caller's limiters do).
 */
export type AccessCheck = (
  | { readonly ok: true; readonly session: SessionRecord }
  | { readonly ok: false; readonly reason: EndReason }
) & { readonly counted?: readonly CounterHit[] };

export type CreateSessionResult =
  | {
      readonly ok: true;
      readonly evicted: readonly string[];
      /** The store published the evicted sessions' `ended` event itself (Redis: in the same script). */
      readonly announced?: boolean;
    }
  | { readonly ok: false; readonly reason: 'too_many_sessions' };

export interface SessionLimit {
  readonly max_active: number;
  readonly on_exceed: 'evict_oldest' | 'reject_new';
}

/**
 * Current refresh tokens a session holds at most. Only a `grace` answer grows the set (a rotation swaps
 * one token for one), so it holds more than one only after tabs presented a spent token together: 16
 * covers a browser waking with a dozen tabs of the app. With the spent list below, a session keeps
 * under 2 KB of hashes, read by refreshes only (never by the per-request check). A `grace` answer that
 * would exceed it drops the oldest current token, which from then on counts as reuse (fail closed:
 * presented, it revokes the session).
 */
export const MAX_CURRENT_REFRESH = 16;

/**
 * Spent tokens remembered for the grace at most, besides being forgotten once older than the grace.
 * Only rotations add to it, and more than 16 rotations of one session inside one grace window is not a
 * browser's doing; dropping the oldest only turns a forgiven replay into a revocation (fail closed).
 */
export const MAX_SPENT_REFRESH = 16;

/**
 * What presenting a refresh token did, by one rule on every store. A session holds a set of current
 * refresh tokens (issued, never spent) and remembers each token it spent less than the grace ago with
 * its spend time (per token: not one parent per session).
 * - `rotated`: it was current. It is spent (it leaves the current set, its spend time is recorded),
 *   `next` joins the current set and the session is renewed. The session's other current tokens
 *   (another tab's) stay current.
 * - `grace`: it was spent less than the grace ago (a tab that read it before another tab rotated it, or
 *   a retry after a lost reply): `next` joins the current set and the session lives on. Its spend time
 *   stays: the window is never stretched.
 * - `reused`: any other token of the session (spent the grace or longer ago, or dropped from a full
 *   current set): the whole session is revoked.
 * - `unknown`: no such token (never issued, or its index entry expired) or its session is gone.
 * - `device_mismatch`: the session is bound to another device; nothing was changed (the caller decides
 *   whether to revoke).
 */
export type RotateResult =
  | { readonly kind: 'rotated' | 'grace'; readonly session: SessionRecord }
  | { readonly kind: 'reused' | 'device_mismatch'; readonly session: SessionRecord }
  | { readonly kind: 'unknown'; readonly reason: EndReason | null };

/**
 * For rotateRefresh: the roles the user holds now, read from the user store; null leaves the session's
 * roles as they are (the user store failed). The store calls it once it knows whose token it is, after
 * it noted the user's last role change (updateUserSessions) and before the rotation.
 */
export type RolesOf = (userId: string) => Promise<readonly string[] | null>;

export interface StateStore {
  /** 'memory' or 'redis': the shared test suite and readiness report it. */
  readonly kind: string;
  /**
   * Creates the session and its first refresh token, enforcing the limit on live sessions of the
   * user: the oldest are ended with `session_replaced`, or the new one is refused.
   */
  createSession(
    record: SessionRecord,
    refreshHash: string,
    limit: SessionLimit,
  ): Promise<CreateSessionResult>;
  /**
   * The hot-path check: one round trip for the session record, its tombstone, the jti and, when the
   * store counts them, one hit on each of `counters` (counted whatever the session's answer).
   */
  checkAccess(
    userId: string,
    sid: string,
    jti: string,
    counters?: readonly CounterSpec[],
  ): Promise<AccessCheck>;
  /** Ends one session (deletes it, its refresh tokens stop working) and leaves a tombstone. */
  endSession(userId: string, sid: string, reason: EndReason): Promise<boolean>;
  /** Ends every session of the user; returns the ids ended. */
  endUserSessions(userId: string, reason: EndReason): Promise<string[]>;
  listUserSessions(userId: string): Promise<SessionRecord[]>;
  /**
   * Rewrites the roles / active flag in every live session of the user (takes effect next request). A
   * change of roles also counts as the user's latest role change for rotateRefresh's `rolesOf`.
   */
  updateUserSessions(
    userId: string,
    change: { roles?: readonly string[]; active?: boolean },
  ): Promise<number>;
  /** Records activity; implementations may coalesce (it is not security-relevant). */
  touchSession(userId: string, sid: string, at: number): void;
  /** Revokes one access token id until `expiresAt` (ms). */
  revokeJti(userId: string, jti: string, expiresAt: number): Promise<void>;
  /**
   * Atomic: finds the token's session and rotates as RotateResult describes. `device` is the
   * presenting device's binding value; when the session has a non-empty `device` that differs,
   * nothing rotates and the answer is `device_mismatch` (a thief's attempt must not spend the
   * owner's token).
   * With `rolesOf`, a `rotated` or `grace` rotation also sets the session's roles to its answer, unless
   * updateUserSessions changed the user's roles after the store called it (that change is newer than
   * the read); the session in the result holds the roles the session has afterwards. So a refresh
   * repairs a session whose roles differ from the user store's, and never undoes a newer change.
   */
  rotateRefresh(
    presentedHash: string,
    nextHash: string,
    now: number,
    graceMs: number,
    ttlMs: number,
    device: string,
    rolesOf?: RolesOf,
  ): Promise<RotateResult>;
  /**
   * The user and session a refresh token (current or spent) was issued to, as long as its index entry
   * lasts, whether or not the session has ended since; changes nothing. For evidence that someone else
   * holds the token (a replayed DPoP proof at refresh): the session is ended.
   */
  refreshOwner(presentedHash: string): Promise<{ userId: string; sid: string } | null>;
  /** Profile cache (JSON text); dropped whenever the user changes. */
  getProfile(userId: string): Promise<string | null>;
  setProfile(userId: string, json: string, ttlMs: number): Promise<void>;
  dropProfile(userId: string): Promise<void>;
  /** True the first time `key` is seen within `ttlMs` (DPoP jti replay); false on a replay. */
  firstSeen(key: string, ttlMs: number): Promise<boolean>;
  /** Resolves when the backend answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * After a timeout or a lost connection a store may refuse every command, unsent, for this long
 * (limiter.ts's breaker), so a request that needs several commands answers 503 in ~1 s.
 */
export const FAILURE_PAUSE_MS = 1000;

/** How long a tombstone explains a vanished session: at least as long as any access token lives. */
export function tombstoneTtl(accessTtlMs: number): number {
  return Math.max(accessTtlMs, 60_000) + 60_000;
}
