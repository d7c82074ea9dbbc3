// The StateStore contract as one test suite: the memory and Redis stores run it unchanged.
// Backend-specific behaviour (round trips, outages, key layout) is tested beside each backend.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  MAX_CURRENT_REFRESH,
  MAX_SPENT_REFRESH,
  type SessionLimit,
  type SessionRecord,
  type StateStore,
} from '../../../gateway/state/state-store.js';

/** Time as the store sees it: a frozen clock for the memory store, the real one for Redis (real TTLs). */
export interface SuiteClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface StoreHarness {
  readonly store: StateStore;
  readonly clock: SuiteClock;
  cleanup(): Promise<void>;
}

export type MakeStore = (options: { tombstoneTtlMs: number }) => Promise<StoreHarness>;

/** Short real TTLs keep the Redis run quick; every wait below is a small multiple of them. */
const SHORT = 300;
const GRACE = 200;
const TOMBSTONE = 500;
const LONG = 60_000;
/** The device binding of every suite session (a User-Agent hash in production). */
const DEV = 'ua:3f2a';

const id = (): string => randomBytes(16).toString('hex');
const one: SessionLimit = { max_active: 1, on_exceed: 'evict_oldest' };
const many: SessionLimit = { max_active: 10, on_exceed: 'evict_oldest' };

export function runStateStoreSuite(name: string, make: MakeStore): void {
  describe(`StateStore contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: StateStore;
    let clock: SuiteClock;
    let uid: string;
    let offset = 0;

    beforeEach(async () => {
      harness = await make({ tombstoneTtlMs: TOMBSTONE });
      ({ store, clock } = harness);
      uid = id();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    /** Each record gets its own created_at, so "oldest" is well defined on every backend. */
    function record(over: Partial<SessionRecord> = {}): SessionRecord {
      const now = clock.now();
      offset += 1;
      return {
        sid: id(),
        user_id: uid,
        email: 'ada@example.com',
        roles: ['user'],
        active: true,
        device: DEV,
        ip: '127.0.0.1',
        user_agent: 'Mozilla/5.0 (suite)',
        created_at: now - 1000 + offset,
        last_seen: now,
        expires_at: now + LONG,
        ...over,
      };
    }

    async function login(
      over: Partial<SessionRecord> = {},
      limit = many,
    ): Promise<{ rec: SessionRecord; hash: string }> {
      const rec = record(over);
      const hash = id();
      const created = await store.createSession(rec, hash, limit);
      expect(created.ok).toBe(true);
      return { rec, hash };
    }

    it('names its kind', () => {
      expect(['memory', 'redis']).toContain(store.kind);
    });

    describe('session allow-list', () => {
      it('accepts a token only while its session exists, returning the record', async () => {
        const { rec } = await login();
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: true, session: rec });
      });

      it('an unknown session is token_revoked (a store restarted empty fails closed)', async () => {
        expect(await store.checkAccess(uid, id(), id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it("a session id presented with another user's id is refused", async () => {
        const { rec } = await login();
        expect(await store.checkAccess(id(), rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it('logout ends the session with a token_revoked tombstone, once', async () => {
        const { rec } = await login();
        expect(await store.endSession(uid, rec.sid, 'token_revoked')).toBe(true);
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        expect(await store.endSession(uid, rec.sid, 'token_revoked')).toBe(false);
        expect(await store.listUserSessions(uid)).toEqual([]);
      });

      it("ending a session under another user's id does nothing", async () => {
        const { rec } = await login();
        expect(await store.endSession(id(), rec.sid, 'token_revoked')).toBe(false);
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
      });

      it('endUserSessions ends every session of that user only, oldest first', async () => {
        const a = await login();
        const b = await login();
        const other = await login({ user_id: id() });
        expect(await store.endUserSessions(uid, 'token_revoked')).toEqual([a.rec.sid, b.rec.sid]);
        for (const s of [a, b]) {
          expect(await store.checkAccess(uid, s.rec.sid, id())).toEqual({
            ok: false,
            reason: 'token_revoked',
          });
        }
        expect((await store.checkAccess(other.rec.user_id, other.rec.sid, id())).ok).toBe(true);
        expect(await store.endUserSessions(uid, 'token_revoked')).toEqual([]);
      });

      it('lists live sessions oldest first', async () => {
        const a = await login();
        const b = await login();
        const c = await login();
        await store.endSession(uid, b.rec.sid, 'token_revoked');
        expect(await store.listUserSessions(uid)).toEqual([a.rec, c.rec]);
        expect(await store.listUserSessions(id())).toEqual([]);
      });

      it('a session past expires_at is gone, without a tombstone', async () => {
        const { rec, hash } = await login({ expires_at: clock.now() + SHORT });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
        await clock.sleep(SHORT + 100);
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        expect(await store.listUserSessions(uid)).toEqual([]);
        expect(await store.rotateRefresh(hash, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
      });
    });

    describe('session limits', () => {
      it('evict_oldest: a new login replaces the oldest session, which answers session_replaced', async () => {
        const limit: SessionLimit = { max_active: 2, on_exceed: 'evict_oldest' };
        const a = await login({}, limit);
        const b = await login({}, limit);
        const c = record();
        expect(await store.createSession(c, id(), limit)).toEqual({ ok: true, evicted: [a.rec.sid] });
        expect(await store.checkAccess(uid, a.rec.sid, id())).toEqual({
          ok: false,
          reason: 'session_replaced',
        });
        expect((await store.checkAccess(uid, b.rec.sid, id())).ok).toBe(true);
        expect((await store.checkAccess(uid, c.sid, id())).ok).toBe(true);
        expect(await store.rotateRefresh(a.hash, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'unknown',
        });
      });

      it('single active session (max 1): the previous session is replaced', async () => {
        const a = await login({}, one);
        const b = record();
        expect(await store.createSession(b, id(), one)).toEqual({ ok: true, evicted: [a.rec.sid] });
        expect(await store.checkAccess(uid, a.rec.sid, id())).toEqual({
          ok: false,
          reason: 'session_replaced',
        });
        expect(await store.listUserSessions(uid)).toEqual([b]);
      });

      it('the session_replaced tombstone lasts tombstoneTtlMs, then the answer is token_revoked', async () => {
        const a = await login({}, one);
        await login({}, one);
        await clock.sleep(TOMBSTONE + 150);
        expect(await store.checkAccess(uid, a.rec.sid, id())).toEqual({
          ok: false,
          reason: 'token_revoked',
        });
      });

      it('reject_new: the new session is refused and the existing one lives on', async () => {
        const limit: SessionLimit = { max_active: 1, on_exceed: 'reject_new' };
        const a = await login({}, limit);
        const b = record();
        const bHash = id();
        expect(await store.createSession(b, bHash, limit)).toEqual({
          ok: false,
          reason: 'too_many_sessions',
        });
        expect((await store.checkAccess(uid, a.rec.sid, id())).ok).toBe(true);
        expect(await store.checkAccess(uid, b.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        expect(await store.rotateRefresh(bHash, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
        await store.endSession(uid, a.rec.sid, 'token_revoked');
        expect((await store.createSession(record(), id(), limit)).ok).toBe(true);
      });

      it('concurrent logins under reject_new: exactly one wins', async () => {
        const limit: SessionLimit = { max_active: 1, on_exceed: 'reject_new' };
        const results = await Promise.all(
          [1, 2, 3, 4, 5].map(() => store.createSession(record(), id(), limit)),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(await store.listUserSessions(uid)).toHaveLength(1);
      });

      it('concurrent logins under evict_oldest (max 1): exactly one session survives', async () => {
        await Promise.all([1, 2, 3, 4, 5].map(() => store.createSession(record(), id(), one)));
        const live = await store.listUserSessions(uid);
        expect(live).toHaveLength(1);
      });

      it('expired sessions do not count against the limit', async () => {
        const limit: SessionLimit = { max_active: 1, on_exceed: 'reject_new' };
        await login({ expires_at: clock.now() + SHORT }, limit);
        await clock.sleep(SHORT + 100);
        expect(await store.createSession(record(), id(), limit)).toEqual({ ok: true, evicted: [] });
      });
    });

    describe('revoked token ids', () => {
      it('a revoked jti is refused while its session lives; other tokens of the session are not', async () => {
        const { rec } = await login();
        const jti = id();
        await store.revokeJti(uid, jti, clock.now() + SHORT);
        expect(await store.checkAccess(uid, rec.sid, jti)).toEqual({ ok: false, reason: 'token_revoked' });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
        await clock.sleep(SHORT + 100);
        expect((await store.checkAccess(uid, rec.sid, jti)).ok).toBe(true);
      });

      it('revoking with an expiry already past records nothing', async () => {
        const { rec } = await login();
        const jti = id();
        await store.revokeJti(uid, jti, clock.now() - 1);
        expect((await store.checkAccess(uid, rec.sid, jti)).ok).toBe(true);
      });
    });

    describe('role and active changes', () => {
      it('rewrite roles and the active flag in every live session of the user, and no one else', async () => {
        const a = await login();
        const b = await login();
        const other = await login({ user_id: id() });
        expect(await store.updateUserSessions(uid, { roles: ['admin', 'ops'] })).toBe(2);
        for (const s of [a, b]) {
          const check = await store.checkAccess(uid, s.rec.sid, id());
          expect(check).toEqual({ ok: true, session: { ...s.rec, roles: ['admin', 'ops'] } });
        }
        expect(await store.updateUserSessions(uid, { active: false })).toBe(2);
        expect(await store.checkAccess(uid, a.rec.sid, id())).toMatchObject({
          ok: true,
          session: { active: false, roles: ['admin', 'ops'] },
        });
        expect(await store.updateUserSessions(uid, { roles: [] })).toBe(2);
        expect(await store.checkAccess(uid, b.rec.sid, id())).toMatchObject({
          ok: true,
          session: { active: false, roles: [] },
        });
        expect(await store.checkAccess(other.rec.user_id, other.rec.sid, id())).toEqual({
          ok: true,
          session: other.rec,
        });
        expect(await store.updateUserSessions(id(), { active: false })).toBe(0);
      });
    });

    describe('activity', () => {
      it('touchSession records last_seen', async () => {
        const { rec } = await login();
        store.touchSession(uid, rec.sid, rec.last_seen + 5000);
        await vi.waitFor(async () => {
          expect((await store.listUserSessions(uid))[0]?.last_seen).toBe(rec.last_seen + 5000);
        });
      });

      it('touching an ended session does not bring it back', async () => {
        const { rec } = await login();
        await store.endSession(uid, rec.sid, 'token_revoked');
        store.touchSession(uid, rec.sid, clock.now());
        await new Promise((r) => setTimeout(r, 50));
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        expect(await store.listUserSessions(uid)).toEqual([]);
      });
    });

    describe('refresh rotation', () => {
      it('rotated: the presented token was current; the session is renewed to now + ttl', async () => {
        const { rec, hash } = await login({ expires_at: clock.now() + SHORT });
        const now = clock.now();
        const next = id();
        expect(await store.rotateRefresh(hash, next, now, GRACE, 5 * SHORT, DEV)).toEqual({
          kind: 'rotated',
          session: { ...rec, expires_at: now + 5 * SHORT, last_seen: now },
        });
        await clock.sleep(SHORT + 100);
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
        expect(await store.rotateRefresh(next, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
      });

      it('a rotation with rolesOf gives the session the roles read (rotated and grace alike)', async () => {
        const { rec, hash: h0 } = await login({ roles: ['user', 'admin'] });
        const asked: string[] = [];
        const rolesOf = (roles: readonly string[] | null) => async (userId: string) => {
          asked.push(userId);
          return roles;
        };
        const h1 = id();
        const rotated = await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV, rolesOf(['user']));
        expect(rotated).toMatchObject({ kind: 'rotated', session: { sid: rec.sid, roles: ['user'] } });
        expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({ session: { roles: ['user'] } });
        const grace = await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV, rolesOf(['ops']));
        expect(grace).toMatchObject({ kind: 'grace', session: { roles: ['ops'] } });
        expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({ session: { roles: ['ops'] } });
        // null (the user store failed): the session keeps what it has.
        const kept = await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV, rolesOf(null));
        expect(kept).toMatchObject({ kind: 'rotated', session: { roles: ['ops'] } });
        expect(asked).toEqual([uid, uid, uid]);
      });

      it('a role change pushed while a rotation reads the roles wins over the read', async () => {
        const { rec, hash } = await login({ roles: ['user', 'admin'] });
        const result = await store.rotateRefresh(
          hash,
          id(),
          clock.now(),
          GRACE,
          LONG,
          DEV,
          async (userId) => {
            // The read saw ['user', 'admin']; a revocation lands in the sessions before the rotation.
            await store.updateUserSessions(userId, { roles: ['user'] });
            return ['user', 'admin'];
          },
        );
        expect(result).toMatchObject({ kind: 'rotated', session: { roles: ['user'] } });
        expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({ session: { roles: ['user'] } });
      });

      it('a refused rotation (device mismatch, reuse) leaves the roles alone', async () => {
        const { rec, hash: h0 } = await login({ roles: ['user'] });
        const admin = async () => ['user', 'admin'];
        expect(
          await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, 'ua:other', admin),
        ).toMatchObject({
          kind: 'device_mismatch',
          session: { roles: ['user'] },
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toMatchObject({ session: { roles: ['user'] } });
      });

      it('grace: a token spent less than the grace ago gets a new current token, the session lives', async () => {
        const { rec, hash: h0 } = await login();
        const [h1, h2, h3] = [id(), id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(h0, h2, clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
          session: { sid: rec.sid },
        });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
        // Both tabs hold a current token now; either can rotate, in any order.
        expect(await store.rotateRefresh(h2, h3, clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
        expect(await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
      });

      it('two tabs: the token B got in the grace stays current while A rotates on; each branch keeps rotating', async () => {
        const { rec, hash: r0 } = await login();
        const at = clock.now();
        const rotate = (presented: string, next: string) =>
          store.rotateRefresh(presented, next, clock.now(), GRACE, LONG, DEV);
        const [ra, rb, ra2, rb2, ra3, rb3] = [id(), id(), id(), id(), id(), id()];
        expect(await store.rotateRefresh(r0, ra, at, GRACE, LONG, DEV)).toMatchObject({ kind: 'rotated' });
        expect(await store.rotateRefresh(r0, rb, at, GRACE, LONG, DEV)).toMatchObject({ kind: 'grace' });
        expect(await rotate(ra, ra2)).toMatchObject({ kind: 'rotated' });
        // RB's first use, after A rotated again: A's rotations spent only A's tokens, so RB is current.
        expect(await rotate(rb, rb2)).toMatchObject({ kind: 'rotated' });
        expect(await rotate(ra2, ra3)).toMatchObject({ kind: 'rotated' });
        expect(await rotate(rb2, rb3)).toMatchObject({ kind: 'rotated' });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
        // Past the grace, any spent token of either branch is reuse.
        await clock.sleep(GRACE + 100);
        expect(await rotate(rb, id())).toMatchObject({ kind: 'reused' });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        for (const h of [ra3, rb3]) {
          expect(await rotate(h, id())).toEqual({ kind: 'unknown', reason: 'token_revoked' });
        }
      });

      it('several tabs refreshing one token at once: one rotation, the rest grace, every new token rotates', async () => {
        const { rec, hash } = await login();
        const at = clock.now();
        const next = [id(), id(), id(), id(), id()];
        const results = await Promise.all(
          next.map((n) => store.rotateRefresh(hash, n, at, GRACE, LONG, DEV)),
        );
        expect(results.map((r) => r.kind).sort()).toEqual(['grace', 'grace', 'grace', 'grace', 'rotated']);
        for (const n of next) {
          expect(await store.rotateRefresh(n, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
            kind: 'rotated',
          });
        }
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
      });

      it('a token spent, forgiven inside the grace, then presented after it revokes the session', async () => {
        const { rec, hash: h0 } = await login();
        const [h1, h2] = [id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(h0, h2, clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
        });
        await clock.sleep(GRACE + 100);
        // The grace answer did not renew the spend time: the window is not stretched by using it.
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'reused',
          session: { sid: rec.sid },
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        for (const h of [h1, h2]) {
          expect(await store.rotateRefresh(h, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
            kind: 'unknown',
            reason: 'token_revoked',
          });
        }
      });

      it('a token issued in the grace, once rotated, is spent like any other', async () => {
        const { rec, hash: h0 } = await login();
        const [h1, g, g1] = [id(), id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        await store.rotateRefresh(h0, g, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(g, g1, clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
        // A retry of g (its reply lost) inside the grace: forgiven.
        expect(await store.rotateRefresh(g, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
        });
        await clock.sleep(GRACE + 100);
        expect(await store.rotateRefresh(g1, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
        expect(await store.rotateRefresh(g, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'reused',
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it('the grace is per token: one spent less than the grace ago is forgiven after later rotations', async () => {
        const { rec, hash: h0 } = await login();
        const [h1, h2] = [id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        await store.rotateRefresh(h1, h2, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
        });
        expect(await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
        });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
      });

      it('the grace is per token: one spent longer ago is reuse though a later one was spent just now', async () => {
        const { rec, hash: h0 } = await login();
        const [h1, h2] = [id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        await clock.sleep(GRACE + 100);
        await store.rotateRefresh(h1, h2, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'reused',
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it(`at most ${MAX_CURRENT_REFRESH} current tokens: a grace answer beyond drops the oldest, which is then reuse`, async () => {
        const { rec, hash: h0 } = await login();
        // One instant for every call: the bound, not the clock, decides here.
        const at = clock.now();
        const h1 = id();
        await store.rotateRefresh(h0, h1, at, GRACE, LONG, DEV);
        const tabs = Array.from({ length: MAX_CURRENT_REFRESH }, () => id());
        for (const t of tabs) {
          expect(await store.rotateRefresh(h0, t, at, GRACE, LONG, DEV)).toMatchObject({ kind: 'grace' });
        }
        // h1 was the oldest of MAX + 1: dropped. The newest MAX are current: each rotates.
        for (const t of tabs) {
          expect(await store.rotateRefresh(t, id(), at, GRACE, LONG, DEV)).toMatchObject({ kind: 'rotated' });
        }
        expect(await store.rotateRefresh(h1, id(), at, GRACE, LONG, DEV)).toMatchObject({ kind: 'reused' });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it(`at most ${MAX_SPENT_REFRESH} spent tokens are forgiven: the oldest beyond is reuse inside the grace`, async () => {
        const { rec, hash: h0 } = await login();
        const at = clock.now();
        const chain = [h0, ...Array.from({ length: MAX_SPENT_REFRESH + 1 }, () => id())];
        // MAX + 1 rotations in the same window, a millisecond apart so "oldest" is well defined.
        for (let i = 0; i + 1 < chain.length; i += 1) {
          expect(await store.rotateRefresh(chain[i]!, chain[i + 1]!, at + i, GRACE, LONG, DEV)).toMatchObject(
            {
              kind: 'rotated',
            },
          );
        }
        const later = at + MAX_SPENT_REFRESH + 1;
        expect(await store.rotateRefresh(chain[1]!, id(), later, GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
        });
        expect(await store.rotateRefresh(h0, id(), later, GRACE, LONG, DEV)).toMatchObject({
          kind: 'reused',
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it('a grace of 0 forgives nothing: a spent token is reuse at once', async () => {
        const { rec, hash: h0 } = await login();
        const at = clock.now();
        await store.rotateRefresh(h0, id(), at, 0, LONG, DEV);
        expect(await store.rotateRefresh(h0, id(), at, 0, LONG, DEV)).toMatchObject({ kind: 'reused' });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it('device_mismatch on a token spent inside the grace issues nothing and changes nothing', async () => {
        const { rec, hash: h0 } = await login();
        const [h1, stolen] = [id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(h0, stolen, clock.now(), GRACE, LONG, 'ua:other')).toEqual({
          kind: 'device_mismatch',
          session: expect.objectContaining({ sid: rec.sid }),
        });
        expect(await store.rotateRefresh(stolen, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'grace',
        });
        expect(await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
      });

      it('reused: a spent token outside the grace window revokes the whole session', async () => {
        const { rec, hash: h0 } = await login();
        const h1 = id();
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        await clock.sleep(GRACE + 100);
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'reused',
          session: expect.objectContaining({ sid: rec.sid, user_id: uid }),
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
        // The thief's current token dies with the session; both say why.
        expect(await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: 'token_revoked',
        });
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: 'token_revoked',
        });
        expect(await store.listUserSessions(uid)).toEqual([]);
      });

      it('unknown: a token never issued, whatever the session holds; the session lives on', async () => {
        const { rec, hash: h0 } = await login();
        expect(await store.rotateRefresh(id(), id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
        const [h1, h2] = [id(), id()];
        await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV);
        await store.rotateRefresh(h0, h2, clock.now(), GRACE, LONG, DEV);
        expect(await store.rotateRefresh(id(), id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
        for (const h of [h1, h2]) {
          expect(await store.rotateRefresh(h, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
            kind: 'rotated',
          });
        }
      });

      it('a logged-out session cannot be refreshed', async () => {
        const { rec, hash } = await login();
        await store.endSession(uid, rec.sid, 'token_revoked');
        expect(await store.rotateRefresh(hash, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: 'token_revoked',
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it('a refused rotation leaves the new token unusable', async () => {
        const { rec, hash: h0 } = await login();
        const h1 = id();
        await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV);
        await clock.sleep(GRACE + 100);
        expect(await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'reused',
        });
        expect(await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
        expect(await store.checkAccess(uid, rec.sid, id())).toEqual({ ok: false, reason: 'token_revoked' });
      });

      it('device_mismatch: another device changes nothing, the owner still rotates', async () => {
        const { rec, hash: h0 } = await login();
        const stolen = id();
        expect(await store.rotateRefresh(h0, stolen, clock.now(), GRACE, LONG, 'ua:other')).toEqual({
          kind: 'device_mismatch',
          session: rec,
        });
        expect(await store.rotateRefresh(stolen, id(), clock.now(), GRACE, LONG, 'ua:other')).toEqual({
          kind: 'unknown',
          reason: null,
        });
        expect(await store.rotateRefresh(h0, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
      });

      it('a session without device binding rotates for any device', async () => {
        const { hash } = await login({ device: '' });
        expect(await store.rotateRefresh(hash, id(), clock.now(), GRACE, LONG, 'ua:any')).toMatchObject({
          kind: 'rotated',
        });
      });

      it('a presented hash containing a space never matches a current token', async () => {
        const { rec, hash: h0 } = await login();
        expect(await store.rotateRefresh(`${h0} ${id()}`, id(), clock.now(), GRACE, LONG, DEV)).toEqual({
          kind: 'unknown',
          reason: null,
        });
        expect((await store.checkAccess(uid, rec.sid, id())).ok).toBe(true);
      });
    });

    describe('refreshOwner', () => {
      it('names the session of a current or spent token, after it ended too, and changes nothing', async () => {
        const { rec, hash: h0 } = await login();
        const owner = { userId: uid, sid: rec.sid };
        expect(await store.refreshOwner(h0)).toEqual(owner);
        expect(await store.refreshOwner(h0)).toEqual(owner);
        const h1 = id();
        expect(await store.rotateRefresh(h0, h1, clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
        expect(await store.refreshOwner(h0)).toEqual(owner);
        expect(await store.refreshOwner(h1)).toEqual(owner);
        expect(await store.rotateRefresh(h1, id(), clock.now(), GRACE, LONG, DEV)).toMatchObject({
          kind: 'rotated',
        });
        await store.endSession(uid, rec.sid, 'token_revoked');
        expect(await store.refreshOwner(h1)).toEqual(owner);
      });

      it('is null for a token never issued or a malformed hash', async () => {
        const { hash } = await login();
        expect(await store.refreshOwner(id())).toBeNull();
        expect(await store.refreshOwner(`${hash} ${id()}`)).toBeNull();
        expect(await store.refreshOwner('')).toBeNull();
      });
    });

    describe('profile cache', () => {
      it('stores, drops and expires the profile JSON', async () => {
        expect(await store.getProfile(uid)).toBeNull();
        await store.setProfile(uid, '{"id":"x"}', SHORT);
        expect(await store.getProfile(uid)).toBe('{"id":"x"}');
        expect(await store.getProfile(id())).toBeNull();
        await store.dropProfile(uid);
        expect(await store.getProfile(uid)).toBeNull();
        await store.setProfile(uid, '{"id":"y"}', SHORT);
        await clock.sleep(SHORT + 100);
        expect(await store.getProfile(uid)).toBeNull();
      });
    });

    describe('firstSeen', () => {
      it('is true once per key within the TTL, then true again', async () => {
        const key = id();
        expect(await store.firstSeen(key, SHORT)).toBe(true);
        expect(await store.firstSeen(key, SHORT)).toBe(false);
        expect(await store.firstSeen(id(), SHORT)).toBe(true);
        await clock.sleep(SHORT + 100);
        expect(await store.firstSeen(key, SHORT)).toBe(true);
      });
    });

    it('ping resolves while the backend answers', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
