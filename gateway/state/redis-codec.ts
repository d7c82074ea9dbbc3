// Key names of the Redis state store and how session records are encoded in them. No connection and
// no ioredis here: redis-sessions.ts and redis-store.ts use these helpers.
//
// Keys (prefix `pc:`; `{u:<uid>}` is a hash tag, so every key of one user is in one Cluster slot):
//   pc:{u:<uid>}:s:<sid>     session hash (fields in redis-scripts.ts), expires at the session's expires_at
//   pc:{u:<uid>}:t:<sid>     tombstone: why the session ended (token_revoked | session_replaced), tombstone TTL
//   pc:{u:<uid>}:j:<jti>     individually revoked access token, until the token's exp
//   pc:{u:<uid>}:sessions    sorted set of the user's sids by created_at (stale members pruned by scripts)
//   pc:{u:<uid>}:profile     cached profile JSON
//   pc:{u:<uid>}:rv          count of role changes pushed to the user's sessions (redis-scripts.ts: update,
//                            rotate), kept a day after the last one
//   pc:r:<refresh hash>      refresh index: JSON [uid, sid]; in any slot, so no script ever touches it
//   pc:seen:<key>            firstSeen markers (DPoP proof jti)
//   pc:rl:<limiter>:<key>    rate-limiter-flexible counters (limiter.ts); per-user ones have the key
//                            {u:<uid>}, in the user's slot, so the check script counts them too
import { BoundedMap } from '../bounded-map.js';
import { GatewayError } from '../errors.js';
import type { SessionRecord } from './state-store.js';

export const KEY_PREFIX = 'pc:';

/** The hash tag of every key of one user (per-user rate-limit counters included: limiter.ts). */
export const userTag = (uid: string): string => `{u:${uid}}`;

const user = (uid: string): string => `${KEY_PREFIX}${userTag(uid)}:`;

export const redisKeys = {
  user,
  session: (uid: string, sid: string): string => `${user(uid)}s:${sid}`,
  tombstone: (uid: string, sid: string): string => `${user(uid)}t:${sid}`,
  jti: (uid: string, jti: string): string => `${user(uid)}j:${jti}`,
  sessions: (uid: string): string => `${user(uid)}sessions`,
  profile: (uid: string): string => `${user(uid)}profile`,
  roleChanges: (uid: string): string => `${user(uid)}rv`,
  refresh: (hash: string): string => `${KEY_PREFIX}r:${hash}`,
  seen: (key: string): string => `${KEY_PREFIX}seen:${key}`,
};

/** Data we cannot read is a store we cannot use: fail closed like an outage. */
export function unreadable(what: string): GatewayError {
  return new GatewayError('state_unavailable', { cause: new TypeError(`unreadable ${what} in Redis`) });
}

export function asArray(reply: unknown): unknown[] {
  if (Array.isArray(reply)) return reply;
  throw unreadable('reply');
}

export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Absolute ms for PXAT / PEXPIREAT, which take integers. */
export const at = (ms: number): string => String(Math.ceil(ms));

/** Hashes travel space-separated inside the session hash, so whitespace would forge a second hash. */
export const isHash = (h: string): boolean => /^[\x21-\x7e]{1,256}$/.test(h);

export const hashesOf = (cur: unknown): string[] => (str(cur) ?? '').split(' ').filter((h) => h !== '');

/** The part of a record that never changes; roles, active, expiry and activity are fields of their own. */
export function encodeSession(r: SessionRecord): string {
  const { sid, user_id, email, device, ip, user_agent, created_at } = r;
  return JSON.stringify({ sid, user_id, email, device, ip, user_agent, created_at });
}

/** The part of a session record that never changes after it is created (encodeSession). */
export type FixedSession = Pick<
  SessionRecord,
  'sid' | 'user_id' | 'email' | 'device' | 'ip' | 'user_agent' | 'created_at'
>;

function isFixed(v: unknown): v is FixedSession {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    ['sid', 'user_id', 'email', 'device', 'ip', 'user_agent'].every((k) => typeof o[k] === 'string') &&
    typeof o.created_at === 'number'
  );
}

function parseFixed(rec: string): FixedSession {
  let fixed: unknown;
  try {
    fixed = JSON.parse(rec);
  } catch {
    throw unreadable('session record');
  }
  if (!isFixed(fixed)) throw unreadable('session record');
  return fixed;
}

// Role lists are few (most users share one): each distinct JSON text is parsed and frozen once.
const MAX_ROLE_LISTS = 1_000;
const roleLists = new BoundedMap<string, readonly string[]>(MAX_ROLE_LISTS);

function parseRoles(text: string | null): readonly string[] {
  const known = text === null ? undefined : roleLists.get(text);
  if (known !== undefined) return known;
  let roles: unknown;
  try {
    roles = JSON.parse(text ?? '');
  } catch {
    throw unreadable('session record');
  }
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) throw unreadable('session record');
  const frozen = Object.freeze([...roles] as string[]);
  roleLists.set(text!, frozen);
  return frozen;
}

/**
 * Fields in the order the scripts return them: rec, roles, active, exp, seen. Null: no session. A
 * caller that already holds the session's fixed part passes it and the reply may leave rec out
 * (false); `active`, written with every session, then tells whether the session exists.
 */
export function decodeSession(f: readonly unknown[], known?: FixedSession): SessionRecord | null {
  const rec = str(f[0]);
  let fixed: FixedSession;
  if (rec !== null) fixed = parseFixed(rec);
  else if (known !== undefined && str(f[2]) !== null) fixed = known;
  else return null;
  return Object.freeze({
    sid: fixed.sid,
    user_id: fixed.user_id,
    email: fixed.email,
    roles: parseRoles(str(f[1])),
    active: str(f[2]) === '1',
    device: fixed.device,
    ip: fixed.ip,
    user_agent: fixed.user_agent,
    created_at: fixed.created_at,
    last_seen: Number(str(f[4])),
    expires_at: Number(str(f[3])),
  });
}
