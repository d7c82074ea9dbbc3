// The longest brute_force.cooloff the config accepts still holds a lock in the in-memory limiter: its
// records expire by setTimeout, which fires after 1 ms when asked for more than 2^31-1 ms (24.8 days).
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../config/index.js';
import { createMemoryLimiters, type LimitState } from '../../gateway/state/limiter.js';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('brute_force.cooloff and the memory limiter', () => {
  it('a 24d lock (the bound) is still held after the 1 ms an overflowed timer would have given it', async () => {
    const text = `tokens:\n  secret: ${'k'.repeat(32)}\nbrute_force:\n  failure_limit: 1\n  cooloff: 24d\n`;
    const { config } = loadConfigText(text, { file: null, dir: '/srv/gw', env: {} });
    const bf = config.brute_force;
    expect(bf.cooloff).toBe(24 * 86_400_000);
    expect(bf.cooloff).toBeLessThanOrEqual(2 ** 31 - 1);

    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const rate = { text: '', points: bf.failure_limit, duration_ms: bf.cooloff };
      const pairs = createMemoryLimiters().create('bf-pair', rate, { failClosed: true });
      expect(((await pairs.consume('k')) as LimitState).allowed).toBe(true);
      await pairs.block('k', bf.cooloff);
      await sleep(30);
      const after = (await pairs.consume('k')) as LimitState;
      expect(after.allowed).toBe(false);
      expect(after.resetMs).toBeGreaterThan(bf.cooloff - 60_000);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
  });
});
