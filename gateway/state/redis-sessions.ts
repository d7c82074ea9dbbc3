// The session allow-list, revoked token ids and refresh rotation on Redis, written against a few
// commands and the Lua scripts. Does not connect or translate errors: redis-store.ts supplies the commands.
//
// Refresh rotation when the index (`pc:r:<hash>`, any slot) and the user's keys (one slot) differ, as on
// Cluster, so no single script can cover both:
//   1. GET pc:r:<presented> → [uid, sid] (none: `unknown`).
//   2. SET pc:r:<next> → [uid, sid] with the new expiry, BEFORE the rotation, so a rotation that happens
//      is always resolvable. If anything fails later, this entry names a hash no client was ever given.
//      With `rolesOf`, at the same time: GET the user's role-change count, THEN ask rolesOf (the user
//      store), so a role change pushed after the read moves the count and the script keeps its roles.
//   3. The rotate script on the user's slot decides rotated / grace / reused / device_mismatch / unknown,
//      and writes the roles read unless the count moved.
//   4. Afterwards, best effort: rotated → extend pc:r:<presented> to the new expiry (a later replay is
//      then recognised as reuse); otherwise → delete the entries of hashes that can no longer work.
// Failure cases: if step 3's reply is lost (timeout) the caller gets state_unavailable though the
// rotation may have happened; the client retries with the same token and gets `grace` inside the window
// (after it, `reused`: the session ends, fail closed). If step 4 fails, a replay after the old index
// expiry answers `unknown` instead of `reused`: refused either way. Index entries of ended sessions are
// left to expire, so their tokens answer with the tombstone's reason.
// A createSession whose reply is lost may leave a session nobody holds tokens for: it expires, or the
// next login evicts it (under reject_new it blocks new logins until it expires or an admin revokes it).
import { BoundedMap } from '../bounded-map.js';
import { GatewayError } from '../errors.js';
import {
  asArray,
  at,
  decodeSession,
  encodeSession,
  type FixedSession,
  isHash,
  redisKeys,
  str,
  unreadable,
} from './redis-codec.js';
import type { ScriptName } from './redis-scripts.js';
import type {
  AccessCheck,
  CounterHit,
  CounterSpec,
  RolesOf,
  RotateResult,
  SessionRecord,
  StateStore,
} from './state-store.js';
import { EntryError, turnBatch } from './turn-batch.js';

export interface RedisCommands {
  /** Runs one of redis-scripts.ts; rejects with GatewayError state_unavailable. */
  script(name: ScriptName, ...args: (string | number)[]): Promise<unknown>;
  /**
   * The same for a script without a fixed key count, its arguments built by the caller in one array
   * (key count, keys, arguments) that the command takes over as it is: a batched check carries hundreds.
   */
  scriptArray(name: ScriptName, args: string[]): Promise<unknown>;
  /** False on Cluster: one script may then only touch one user's keys (one hash slot). */
  readonly mixesUsers: boolean;
  get(key: string): Promise<string | null>;
  /** SET key value PXAT atMs. */
  setUntil(key: string, value: string, atMs: string): Promise<void>;
  /** PEXPIREAT key atMs. */
  expireAt(key: string, atMs: string): Promise<void>;
  /** Deletes keys that may sit in different slots (one command each). Never rejects: logs instead. */
  dropKeys(keys: readonly string[]): Promise<void>;
  warn(obj: { err: unknown }, msg: string): void;
  error(obj: { err: unknown }, msg: string): void;
}

export type SessionOps = Pick<
  StateStore,
  | 'createSession'
  | 'checkAccess'
  | 'endSession'
  | 'endUserSessions'
  | 'listUserSessions'
  | 'updateUserSessions'
  | 'touchSession'
  | 'revokeJti'
  | 'rotateRefresh'
  | 'refreshOwner'
>;

/** Sessions whose fixed part is kept (≈ 300 bytes each). */
const FIXED_CACHE = 10_000;

const dropIndex = (cmd: RedisCommands, hashes: readonly string[]): Promise<void> =>
  cmd.dropKeys(hashes.map(redisKeys.refresh));

function badHash(): TypeError {
  return new TypeError('a refresh hash must be 1-256 printable ASCII characters without spaces');
}

/** A pcCheck reply entry: the session's answer, then `counters` [consumed, ttl ms] pairs after its 7 fields. */
function access(f: readonly unknown[], known: FixedSession | undefined, counters: number): AccessCheck {
  const counted = counters === 0 ? undefined : hits(f, counters);
  const session = decodeSession(f, known);
  if (session === null) {
    return { ok: false, reason: f[5] === 'session_replaced' ? 'session_replaced' : 'token_revoked', counted };
  }
  if (f[6] === 1) return { ok: false, reason: 'token_revoked', counted };
  return { ok: true, session, counted };
}

function hits(f: readonly unknown[], n: number): CounterHit[] {
  const out: CounterHit[] = [];
  for (let i = 7; i < 7 + 2 * n; i += 2) {
    const consumed = f[i];
    const ttl = f[i + 1];
    if (typeof consumed !== 'number' || typeof ttl !== 'number') throw unreadable('counter reply');
    out.push([consumed, ttl]);
  }
  return out;
}

/** Requests per pcCheck at most: the script blocks Redis for ≈ 15 µs per request. */
const MAX_BATCH = 100;

/** One request's check, waiting for its batch. */
interface Check {
  readonly userId: string;
  readonly sid: string;
  readonly jti: string;
  readonly key: string;
  readonly known: FixedSession | undefined;
  readonly counters: readonly CounterSpec[];
}

/**
 * checkAccess: the checks of the requests that arrive in one turn of the event loop leave together, as
 * one pcCheck script (one command, one write, one reply). On Cluster each request goes alone.
 */
function createChecker(
  cmd: RedisCommands,
  fixedParts: BoundedMap<string, FixedSession>,
): SessionOps['checkAccess'] {
  const check = turnBatch<Check, AccessCheck>({
    send(batch) {
      const keys: string[] = [];
      const argv: string[] = [];
      for (const c of batch) {
        keys.push(c.key, redisKeys.tombstone(c.userId, c.sid), redisKeys.jti(c.userId, c.jti));
        argv.push(String(c.counters.length), c.known === undefined ? '1' : '0');
        for (const counter of c.counters) {
          keys.push(counter.key);
          argv.push(String(counter.seconds));
        }
      }
      return cmd.scriptArray('pcCheck', [String(keys.length), ...keys, String(batch.length), ...argv]);
    },
    decode(c, entry) {
      const answer = access(asArray(entry), c.known, c.counters.length);
      if (c.known === undefined && answer.ok) fixedParts.set(c.key, answer.session);
      return answer;
    },
    failed(message) {
      // That request's commands failed in Redis (the others in the batch did not): not an outage.
      const err = new EntryError(`state store script failed: ${message}`);
      cmd.error({ err }, 'state store command failed');
      return new GatewayError('state_unavailable', { cause: err });
    },
    malformed: () => unreadable('check reply'),
    max: MAX_BATCH,
    alone: !cmd.mixesUsers,
  });
  return (userId, sid, jti, counters = []) => {
    const key = redisKeys.session(userId, sid);
    return check({ userId, sid, jti, key, known: fixedParts.get(key), counters });
  };
}

/** `eventsChannel`: where session events go; createSession publishes its evictions' event there itself. */
export function createRedisSessions(
  cmd: RedisCommands,
  tombstoneTtlMs: number,
  eventsChannel: string,
): SessionOps {
  const tombMs = String(Math.max(1, Math.ceil(tombstoneTtlMs)));
  // The fixed part of sessions this process has checked, by session key. It never changes and a sid is
  // never reused, so the check script need not send it again; whether the session still exists, is
  // active and has which roles always comes from Redis.
  const fixedParts = new BoundedMap<string, FixedSession>(FIXED_CACHE);

  /** Script replies for ended sessions: {sid1, hashes1, sid2, hashes2...}. */
  async function ended(reply: readonly unknown[]): Promise<string[]> {
    // The ended sessions' refresh index entries stay until they expire, so a refresh token of an ended
    // session answers with the tombstone's reason (token_revoked, session_replaced).
    const sids: string[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) sids.push(String(reply[i]));
    return sids;
  }

  /** The index entry of a refresh hash: its text (copied to the next hash) and the [user, sid] it names. */
  async function readOwner(presented: string): Promise<{ text: string; uid: string; sid: string } | null> {
    const text = await cmd.get(redisKeys.refresh(presented));
    if (text === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw unreadable('refresh index entry');
    }
    if (!Array.isArray(parsed) || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') {
      throw unreadable('refresh index entry');
    }
    return { text, uid: parsed[0], sid: parsed[1] };
  }

  /** rolesOf's answer as JSON and the role-change count read before it ('' for either: none). */
  async function readRoles(uid: string, rolesOf: RolesOf | undefined): Promise<[string, string]> {
    if (rolesOf === undefined) return ['', ''];
    const count = (await cmd.get(redisKeys.roleChanges(uid))) ?? '';
    const roles = await rolesOf(uid);
    return roles === null ? ['', ''] : [JSON.stringify(roles), count];
  }

  async function rotateRefresh(
    presented: string,
    next: string,
    now: number,
    graceMs: number,
    ttlMs: number,
    device: string,
    rolesOf?: RolesOf,
  ): Promise<RotateResult> {
    if (!isHash(next)) throw badHash();
    if (!isHash(presented)) return { kind: 'unknown', reason: null };
    const owner = await readOwner(presented);
    if (owner === null) return { kind: 'unknown', reason: null };
    const { uid, sid } = owner;
    const expires = at(now + ttlMs);
    // Side by side: the count's GET leaves with the SET, and the user store's read overlaps it.
    const [, [roles, count]] = await Promise.all([
      cmd.setUntil(redisKeys.refresh(next), owner.text, expires),
      readRoles(uid, rolesOf),
    ]);
    const reply = asArray(
      await cmd.script(
        'pcRotate',
        redisKeys.session(uid, sid),
        redisKeys.tombstone(uid, sid),
        redisKeys.sessions(uid),
        redisKeys.roleChanges(uid),
        presented,
        next,
        at(now),
        String(Math.max(0, Math.floor(graceMs))),
        expires,
        tombMs,
        sid,
        device,
        roles,
        count,
      ),
    );
    const kind = reply[0];
    if (kind === 'unknown') {
      await dropIndex(cmd, [next]);
      const tomb = reply[1];
      return {
        kind: 'unknown',
        reason: tomb === 'token_revoked' || tomb === 'session_replaced' ? tomb : null,
      };
    }
    const session = decodeSession(reply.slice(1, 6));
    if (session === null) throw unreadable('rotation reply');
    switch (kind) {
      case 'rotated':
        await cmd
          .expireAt(redisKeys.refresh(presented), expires)
          .catch((err: unknown) =>
            cmd.warn({ err }, 'state store: spent refresh token keeps its old index expiry'),
          );
        return { kind: 'rotated', session };
      case 'grace':
        return { kind: 'grace', session };
      case 'reused':
        // The session's other tokens keep their index entries until they expire: presented again they
        // answer with the tombstone's reason. Only the never-issued `next` goes.
        await dropIndex(cmd, [next]);
        return { kind: 'reused', session };
      case 'device_mismatch':
        await dropIndex(cmd, [next]);
        return { kind: 'device_mismatch', session };
      default:
        throw unreadable('rotation reply');
    }
  }

  return {
    async createSession(record, refreshHash, limit) {
      if (!isHash(refreshHash)) throw badHash();
      const uid = record.user_id;
      // The refresh index and the session in one write (the index first, on the same connection); a
      // failure of either fails the login, and what the other left behind is what a lost reply leaves.
      const [, created] = await Promise.all([
        cmd.setUntil(
          redisKeys.refresh(refreshHash),
          JSON.stringify([uid, record.sid]),
          at(record.expires_at),
        ),
        cmd.script(
          'pcCreate',
          redisKeys.sessions(uid),
          redisKeys.user(uid),
          record.sid,
          encodeSession(record),
          JSON.stringify(record.roles),
          record.active ? '1' : '0',
          at(record.expires_at),
          at(record.last_seen),
          at(record.created_at),
          refreshHash,
          limit.max_active,
          limit.on_exceed,
          tombMs,
          Date.now(),
          record.device,
          eventsChannel,
          uid,
        ),
      ]);
      const reply = asArray(created);
      if (reply[0] !== 1) {
        await dropIndex(cmd, [refreshHash]);
        return { ok: false, reason: 'too_many_sessions' };
      }
      return { ok: true, evicted: await ended(reply.slice(1)), announced: true };
    },

    checkAccess: createChecker(cmd, fixedParts),

    async endSession(userId, sid, reason) {
      const cur = await cmd.script(
        'pcEndOne',
        redisKeys.sessions(userId),
        redisKeys.user(userId),
        sid,
        reason,
        tombMs,
      );
      // The index entries stay until they expire: the tombstone explains a later refresh attempt.
      return str(cur) !== null;
    },

    async endUserSessions(userId, reason) {
      return ended(
        asArray(
          await cmd.script('pcEndAll', redisKeys.sessions(userId), redisKeys.user(userId), reason, tombMs),
        ),
      );
    },

    async listUserSessions(userId) {
      const f = asArray(await cmd.script('pcList', redisKeys.sessions(userId), redisKeys.user(userId)));
      const out: SessionRecord[] = [];
      for (let i = 0; i + 4 < f.length; i += 5) {
        const s = decodeSession(f.slice(i, i + 5));
        if (s !== null) out.push(s);
      }
      return out;
    },

    async updateUserSessions(userId, change) {
      const roles = change.roles === undefined ? '' : JSON.stringify(change.roles);
      const active = change.active === undefined ? '' : change.active ? '1' : '0';
      return Number(
        await cmd.script('pcUpdate', redisKeys.sessions(userId), redisKeys.user(userId), roles, active),
      );
    },

    touchSession(userId, sid, seenAt) {
      // Bookkeeping only: a failure must never reach the request.
      cmd.script('pcTouch', redisKeys.session(userId, sid), at(seenAt)).catch(() => {});
    },

    async revokeJti(userId, jti, expiresAt) {
      if (expiresAt <= Date.now()) return;
      await cmd.setUntil(redisKeys.jti(userId, jti), '1', at(expiresAt));
    },

    rotateRefresh,

    async refreshOwner(presented) {
      if (!isHash(presented)) return null;
      const owner = await readOwner(presented);
      return owner === null ? null : { userId: owner.uid, sid: owner.sid };
    },
  };
}
