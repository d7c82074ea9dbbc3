// Argon2id hashing: verify, rehash detection, garbage hashes, long passwords, the dummy verify used
// for unknown emails, and that hashing never blocks the event loop. Low cost parameters where the
// exact cost does not matter: the machine has two shared cores.

import { describe, expect, it } from 'vitest';
import { createPasswordHasher } from '../../../gateway/auth/passwords.js';

const CHEAP = { memory_kib: 1024, iterations: 1, parallelism: 1 } as const;
const hasher = createPasswordHasher(CHEAP);

// Made once with the reference parameters below by @node-rs/argon2, for 'hunter2hunter2'.
const FIXTURES = {
  argon2i: '$argon2i$v=19$m=1024,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg$mUTCPKVx8o/CSsIBEhHmK6XRrG8PTjKwY+eRfC8hf9o',
  version16:
    '$argon2id$v=16$m=1024,t=1,p=1$xuDP6JblBIOT3N54IU6w1g$n4YlFPQ3Oy2szBjN76gmVkAdUbePU0JFY4/LXRaksBA',
  shortOutput: '$argon2id$v=19$m=1024,t=1,p=1$IOFqGeGAI9weWkvBSXUTLQ$qaAd90Biac6utlAi9AuNYQ',
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('password hasher', () => {
  it('hashes with Argon2id and the configured parameters, a fresh salt each time', async () => {
    const a = await hasher.hash('correct horse battery staple');
    const b = await hasher.hash('correct horse battery staple');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct');
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify(stored, 'correct horse battery staple')).toBe(true);
    expect(await hasher.verify(stored, 'correct horse battery stapl')).toBe(false);
    expect(await hasher.verify(stored, 'Correct horse battery staple')).toBe(false);
    expect(await hasher.verify(stored, '')).toBe(false);
  });

  it('hashes a 1024-code-point password of 4-byte characters whole (nothing truncated)', async () => {
    const long = '🔐'.repeat(1024);
    const stored = await hasher.hash(long);
    expect(await hasher.verify(stored, long)).toBe(true);
    expect(await hasher.verify(stored, '🔐'.repeat(1023))).toBe(false);
    expect(await hasher.verify(stored, `${'🔐'.repeat(1023)}🔑`)).toBe(false);
  });

  it('does not need a rehash for a hash made with the configured parameters', async () => {
    expect(hasher.needsRehash(await hasher.hash('x'))).toBe(false);
  });

  it.each([
    ['memory', { ...CHEAP, memory_kib: 2048 }],
    ['iterations', { ...CHEAP, iterations: 2 }],
    ['parallelism', { ...CHEAP, memory_kib: 1024, parallelism: 2 }],
  ])('needs a rehash when the configured %s changes; the old hash still verifies', async (_, params) => {
    const stored = await hasher.hash('old password 1');
    const upgraded = createPasswordHasher(params);
    expect(upgraded.needsRehash(stored)).toBe(true);
    expect(await upgraded.verify(stored, 'old password 1')).toBe(true);
    expect(upgraded.needsRehash(await upgraded.hash('old password 1'))).toBe(false);
  });

  it.each([
    ['argon2i', FIXTURES.argon2i],
    ['Argon2 version 0x10', FIXTURES.version16],
    ['a 16-byte output', FIXTURES.shortOutput],
  ])('accepts a legacy %s hash once and asks for a rehash', async (_, stored) => {
    expect(await hasher.verify(stored, 'hunter2hunter2')).toBe(true);
    expect(await hasher.verify(stored, 'hunter2hunter3')).toBe(false);
    expect(hasher.needsRehash(stored)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['plain text', 'hunter2hunter2'],
    ['truncated PHC', '$argon2id$v=19$m=1024,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg'],
    ['bad base64', '$argon2id$v=19$m=1024,t=1,p=1$!!!!$@@@@'],
    [
      'unknown algorithm',
      '$argon2x$v=19$m=1024,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg$mUTCPKVx8o/CSsIBEhHmK6XRrG8PTjKwY+eRfC8hf9o',
    ],
    [
      'non-numeric parameters',
      '$argon2id$v=19$m=lots,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg$mUTCPKVx8o/CSsIBEhHmK6XRrG8PTjKwY+eRfC8hf9o',
    ],
    ['bcrypt', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'],
    ['NUL bytes', '\u0000'.repeat(20)],
  ])('a garbage stored hash (%s) verifies false, never throws, and needs a rehash', async (_, stored) => {
    await expect(hasher.verify(stored, 'hunter2hunter2')).resolves.toBe(false);
    expect(hasher.needsRehash(stored)).toBe(true);
  });

  it.each([
    ['memory below 8 KiB per lane', { memory_kib: 4, iterations: 1, parallelism: 1 }],
    ['zero iterations', { memory_kib: 1024, iterations: 0, parallelism: 1 }],
    ['zero parallelism', { memory_kib: 1024, iterations: 1, parallelism: 0 }],
    ['parallelism above 255', { memory_kib: 1 << 20, iterations: 1, parallelism: 256 }],
    ['fractional memory', { memory_kib: 1024.5, iterations: 1, parallelism: 1 }],
  ])('refuses %s at start-up', (_, params) => {
    expect(() => createPasswordHasher(params)).toThrow(/argon2\./);
  });

  it('verifyDummy always answers false', async () => {
    expect(await hasher.verifyDummy('anything')).toBe(false);
    expect(await hasher.verifyDummy('')).toBe(false);
  });

  it('security: an unknown-email login (verifyDummy) costs about what a wrong password costs', async () => {
    const costly = createPasswordHasher({ memory_kib: 8192, iterations: 2, parallelism: 1 });
    const stored = await costly.hash('the real password');
    await costly.verifyDummy('warm-up'); // the dummy hash is made in the background at creation
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 7; i++) {
      let start = performance.now();
      await costly.verify(stored, `wrong ${i}`);
      real.push(performance.now() - start);
      start = performance.now();
      await costly.verifyDummy(`wrong ${i}`);
      dummy.push(performance.now() - start);
    }
    // Loose bounds: medians on a shared machine; an early return would be ~0 ms.
    expect(median(dummy)).toBeGreaterThan(median(real) * 0.5);
    expect(median(dummy)).toBeLessThan(median(real) * 2);
  });

  it('keeps the event loop responsive while 8 hashes run', async () => {
    const params = { memory_kib: 19456, iterations: 2, parallelism: 1 };
    const busy = createPasswordHasher(params);
    const single: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      await busy.hash(`alone ${i}`);
      single.push(performance.now() - start);
    }
    const oneHash = median(single);

    let maxGap = 0;
    let ticks = 0;
    let last = performance.now();
    let running = true;
    const tick = () => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
      if (running) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    await Promise.all(Array.from({ length: 8 }, (_, i) => busy.hash(`burst ${i}`)));
    running = false;
    maxGap = Math.max(maxGap, performance.now() - last); // a stall right up to the end counts too

    // Hashing on the event loop would stall it for about 8 × oneHash; off the loop the timer keeps
    // firing. Half the synchronous stall is a loose bound that still fails if hashing ever blocks.
    expect(ticks).toBeGreaterThan(3);
    expect(maxGap).toBeLessThan(4 * oneHash);
  });
});
