// The in-process limiters (rate-limiter-flexible's memory limiter behind our Limiter interface): a hit
// is counted and judged at once, with no promise, so that a public route's request runs its whole
// pipeline synchronously; and that count is the same stored counter the library's own calls use.
import { describe, expect, it } from 'vitest';
import type { Rate } from '../../../config/types.js';
import { type Counted, createMemoryLimiters, type LimitState } from '../../../gateway/state/limiter.js';

const rate = (points: number, seconds: number): Rate => ({
  points,
  duration_ms: seconds * 1000,
  text: `${points}/${seconds}s`,
});

/** A consume that answered at once: a promise here means every public request waits a microtask. */
function now(answer: Counted): LimitState {
  if (answer instanceof Promise) throw new Error('the memory limiter answered with a promise');
  return answer;
}

describe('memory limiter', () => {
  it('counts and judges a hit at once, without a promise', () => {
    const limiter = createMemoryLimiters().create('sync', rate(2, 60), { failClosed: false });
    const [first, second, third] = [1, 2, 3].map(() => now(limiter.consume('k')));
    expect(first).toMatchObject({ allowed: true, limit: 2, consumed: 1, remaining: 1 });
    expect(second).toMatchObject({ allowed: true, consumed: 2, remaining: 0 });
    // The first refusal is limit + 1: the rate-limit stage audits exactly that one.
    expect(third).toMatchObject({ allowed: false, consumed: 3, remaining: 0 });
    expect(third!.resetMs).toBeGreaterThan(59_000);
    expect(third!.resetMs).toBeLessThanOrEqual(60_000);
    // Another key has its own window.
    expect(now(limiter.consume('other'))).toMatchObject({ allowed: true, consumed: 1 });
  });

  it('shares its counter with peek, refund, block and reset (the library’s own calls)', async () => {
    const limiter = createMemoryLimiters().create('shared', rate(3, 60), { failClosed: false });
    now(limiter.consume('k'));
    now(limiter.consume('k'));
    expect(await limiter.peek('k')).toMatchObject({ consumed: 2, remaining: 1, allowed: true });
    await limiter.refund('k');
    expect(now(limiter.consume('k'))).toMatchObject({ consumed: 2, allowed: true });
    await limiter.block('k', 30_000);
    const blocked = now(limiter.consume('k'));
    expect(blocked.allowed).toBe(false);
    expect(blocked.resetMs).toBeGreaterThan(29_000);
    expect(blocked.resetMs).toBeLessThanOrEqual(30_000);
    await limiter.reset('k');
    expect(now(limiter.consume('k'))).toMatchObject({ consumed: 1, allowed: true });
  });

  it('a window that has ended starts a new count', async () => {
    const limiter = createMemoryLimiters().create('window', rate(1, 1), { failClosed: false });
    expect(now(limiter.consume('k')).allowed).toBe(true);
    expect(now(limiter.consume('k')).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(now(limiter.consume('k'))).toMatchObject({ allowed: true, consumed: 1 });
  });
});

describe('memory limiter across a config reload', () => {
  it('a new rate under the same name carries on the counts and blocks (they used to start empty)', async () => {
    const limiters = createMemoryLimiters();
    const before = limiters.create('login', rate(3, 60), { failClosed: true });
    for (let i = 0; i < 3; i++) now(before.consume('alice'));
    await before.block('locked', 30_000);
    // A reload that tightens the limit: the counts so far stand against the new one.
    const after = limiters.create('login', rate(2, 120), { failClosed: true });
    expect(after).not.toBe(before);
    expect(now(after.consume('alice'))).toMatchObject({ allowed: false, limit: 2, consumed: 4 });
    expect(now(after.consume('locked')).allowed).toBe(false);
    expect(now(after.consume('bob'))).toMatchObject({ allowed: true, consumed: 1 });
    // Another name keeps its own counters.
    expect(
      now(limiters.create('register', rate(2, 120), { failClosed: true }).consume('alice')),
    ).toMatchObject({
      consumed: 1,
    });
  });
});
