// The live-revocation registry on a real memory state store with its session events: which connections
// end, with which close code, on which store operation, on token expiry and on the periodic check.
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLOSE_FORBIDDEN,
  CLOSE_UNAUTHORIZED,
  createLiveRevocation,
  type LiveRevocation,
} from '../../gateway/live-revocation.js';
import { createLogger } from '../../gateway/logger.js';
import { createMemoryStateStore } from '../../gateway/state/memory-store.js';
import { createLocalSessionEvents, publishingStore } from '../../gateway/state/session-events.js';
import type { SessionRecord, StateStore } from '../../gateway/state/state-store.js';
import { testSession } from '../support/sessions.js';

const log = createLogger({ level: 'silent', format: 'json' });
const LIMIT = { max_active: 1, on_exceed: 'evict_oldest' } as const;

const record = (userId: string, sid: string, roles: string[] = ['user']): SessionRecord =>
  testSession(userId, { sid, roles, email: `${userId}@example.com`, expires_at: Date.now() + 3_600_000 });

interface Ended {
  code: number;
  reason: string;
  at: number;
}

let live: LiveRevocation | null = null;
afterEach(() => {
  live?.close();
  live = null;
});

function setup(intervalMs = 60_000, now?: () => number) {
  const raw = createMemoryStateStore({ tombstoneTtlMs: 120_000 });
  const events = createLocalSessionEvents();
  const state: StateStore = publishingStore(raw, events, log);
  live = createLiveRevocation({ state, events, log, intervalMs, now });
  const registry = live;
  const open = (userId: string, sid: string, options: { roles?: string[]; ttlMs?: number } = {}) => {
    const ended: Ended[] = [];
    const done = new Promise<Ended>((resolve) => {
      registry.track({
        userId,
        sid,
        jti: `jti-${sid}`,
        expiresAt: Date.now() + (options.ttlMs ?? 600_000),
        roles: options.roles ?? [],
        end(code, reason) {
          const e = { code, reason, at: Date.now() };
          ended.push(e);
          resolve(e);
        },
      });
    });
    return { ended, done };
  };
  return { raw, state, open, registry };
}

const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('live revocation registry', () => {
  it.each([
    ['logout (endSession)', (s: StateStore) => s.endSession('u1', 's1', 'token_revoked'), 'token_revoked'],
    [
      'revoke all / disable (endUserSessions)',
      (s: StateStore) => s.endUserSessions('u1', 'token_revoked'),
      'token_revoked',
    ],
    [
      'eviction by a newer login (createSession)',
      (s: StateStore) => s.createSession(record('u1', 's2'), 'h2', LIMIT),
      'session_replaced',
    ],
  ])('%s ends the session’s connections with 4401 and the reason', async (_what, act, reason) => {
    const { state, open } = setup();
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    await state.createSession(record('u9', 's9'), 'h9', LIMIT);
    const mine = open('u1', 's1');
    const other = open('u9', 's9');
    const started = Date.now();
    await act(state);
    const e = await mine.done;
    expect({ code: e.code, reason: e.reason }).toEqual({ code: CLOSE_UNAUTHORIZED, reason });
    expect(e.at - started).toBeLessThan(200);
    await settle();
    expect(other.ended).toEqual([]); // another user's connection is untouched
  });

  it('refresh-token reuse ends the session (the whole family is revoked)', async () => {
    const { state, open } = setup();
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    const c = open('u1', 's1');
    await state.rotateRefresh('h1', 'h2', Date.now(), 0, 3_600_000, '');
    await state.rotateRefresh('h1', 'h3', Date.now() + 1_000, 0, 3_600_000, '');
    expect((await c.done).code).toBe(CLOSE_UNAUTHORIZED);
  });

  it('a role change re-checks the user’s connections: a route role lost is 4403, others stay', async () => {
    const { state, open } = setup();
    await state.createSession(record('u1', 's1', ['user', 'admin']), 'h1', LIMIT);
    const adminRoute = open('u1', 's1', { roles: ['admin'] });
    const plainRoute = open('u1', 's1');
    await state.updateUserSessions('u1', { roles: ['user'] });
    expect(await adminRoute.done).toMatchObject({ code: CLOSE_FORBIDDEN, reason: 'forbidden' });
    await settle();
    expect(plainRoute.ended).toEqual([]);
  });

  it('the access token expiring ends the connection at its exp', async () => {
    const { state, open } = setup();
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    const started = Date.now();
    const c = open('u1', 's1', { ttlMs: 300 });
    const e = await c.done;
    expect(e).toMatchObject({ code: CLOSE_UNAUTHORIZED, reason: 'token_expired' });
    expect(e.at - started).toBeGreaterThanOrEqual(290);
    expect(e.at - started).toBeLessThan(800);
  });

  it('an expiry timer that fires before the wall clock reaches exp is armed again, not dropped', async () => {
    // The timer runs on the loop's monotonic clock. Here the wall clock steps back 40 ms once the timer
    // is armed (as a clock slewed by NTP may), so the timer fires 40 ms before exp by the wall clock.
    // Before, that timer was dropped and the connection lived on until the next sweep (a minute here).
    let lagMs = 0;
    const { state, open } = setup(60_000, () => Date.now() - lagMs);
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    const started = Date.now();
    const c = open('u1', 's1', { ttlMs: 200 });
    lagMs = 40;
    const e = await Promise.race([c.done, new Promise<null>((resolve) => setTimeout(resolve, 2_000, null))]);
    expect(e).toMatchObject({ code: CLOSE_UNAUTHORIZED, reason: 'token_expired' });
    expect(e!.at - started).toBeGreaterThanOrEqual(230); // at exp by the wall clock, not before
  });

  it('the periodic check ends a connection whose session vanished without an event', async () => {
    const { raw, state, open, registry } = setup();
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    const c = open('u1', 's1');
    await raw.endSession('u1', 's1', 'token_revoked'); // the unwrapped store: no event, as if it was lost
    await settle();
    expect(c.ended).toEqual([]);
    await registry.sweep();
    expect(c.ended).toMatchObject([{ code: CLOSE_UNAUTHORIZED, reason: 'token_revoked' }]);
    expect(registry.size()).toBe(0);
  });

  it('the periodic check runs by itself every intervalMs', async () => {
    const { raw, state, open } = setup(100);
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    const c = open('u1', 's1');
    await raw.endSession('u1', 's1', 'token_revoked');
    expect((await c.done).reason).toBe('token_revoked');
  });

  it('a connection closed by its client is forgotten (untrack) and never ended afterwards', async () => {
    const { state, registry } = setup();
    await state.createSession(record('u1', 's1'), 'h1', LIMIT);
    const ended: number[] = [];
    const untrack = registry.track({
      userId: 'u1',
      sid: 's1',
      jti: 'j',
      expiresAt: Date.now() + 100,
      roles: [],
      end: (code) => ended.push(code),
    });
    untrack();
    await state.endSession('u1', 's1', 'token_revoked');
    await settle(200);
    expect(ended).toEqual([]);
    expect(registry.size()).toBe(0);
  });
});
