// The coarse clock behind the route timeout: never early, at most two ticks late, cleared for good by
// stop(), re-armed by start(), and an expiry may clear another deadline due in the same tick.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CoarseDeadline, TICK_MS } from '../../../gateway/upstream/coarse-deadline.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  // Every test leaves the ring empty; one more tick lets the interval stop.
  vi.advanceTimersByTime(TICK_MS);
  vi.useRealTimers();
});

function fired(): { readonly at: number[]; readonly d: CoarseDeadline; readonly started: number } {
  const at: number[] = [];
  const started = Date.now();
  const d = new CoarseDeadline(() => at.push(Date.now() - started));
  return { at, d, started };
}

describe('CoarseDeadline', () => {
  it.each([1, 99, 100, 250, 1_000])('a %i ms deadline fires once, not early, within two ticks', (ms) => {
    const { at, d } = fired();
    d.start(ms);
    expect(d.armed).toBe(true);
    vi.advanceTimersByTime(ms + 2 * TICK_MS + 1);
    expect(at).toHaveLength(1);
    expect(at[0]).toBeGreaterThanOrEqual(ms);
    expect(at[0]).toBeLessThanOrEqual(ms + 2 * TICK_MS);
    expect(d.armed).toBe(false);
    vi.advanceTimersByTime(10 * TICK_MS);
    expect(at).toHaveLength(1);
  });

  it('stop() clears it, start() re-arms it from now, remainingMs() tells what is left', () => {
    const { at, d } = fired();
    d.start(1_000);
    vi.advanceTimersByTime(400);
    expect(d.remainingMs()).toBeGreaterThan(400);
    expect(d.remainingMs()).toBeLessThanOrEqual(700);
    d.stop();
    expect(d.remainingMs()).toBe(0);
    vi.advanceTimersByTime(2_000);
    expect(at).toEqual([]);
    d.start(300);
    vi.advanceTimersByTime(600);
    expect(at).toHaveLength(1);
    expect(at[0]).toBeGreaterThanOrEqual(2_400 + 300);
  });

  it('an expiry that stops another deadline due in the same tick keeps that one from running', () => {
    const ran: string[] = [];
    const second = new CoarseDeadline(() => ran.push('second'));
    const first = new CoarseDeadline(() => {
      ran.push('first');
      second.stop();
    });
    const third = new CoarseDeadline(() => ran.push('third'));
    first.start(200);
    second.start(200);
    third.start(200);
    vi.advanceTimersByTime(500);
    expect(ran).toEqual(['first', 'third']);
  });
});
