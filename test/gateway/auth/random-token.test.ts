// Session ids, token ids, refresh tokens and nonces come from a pool the CSPRNG refills: what must hold
// is that no bytes are ever handed out twice, across refills too, and that every token has the length
// its format promises.
import { describe, expect, it } from 'vitest';
import { randomToken } from '../../../gateway/auth/random-token.js';

const decoded = (token: string): Buffer => Buffer.from(token, 'base64url');

describe('randomToken', () => {
  it.each([
    [1, 2],
    [16, 22],
    [32, 43],
    [4096, 5462],
  ])('%i bytes are %i base64url characters, no padding', (bytes, chars) => {
    const token = randomToken(bytes);
    expect(token).toHaveLength(chars);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decoded(token)).toHaveLength(bytes);
  });

  it('no two of 200,000 session-sized tokens are equal (the pool never hands out a byte twice)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(randomToken(16));
    expect(seen.size).toBe(200_000);
  });

  it('sizes that straddle the end of the pool come from fresh bytes, not from the pool again', () => {
    // 4,000 bytes leave 96 in the pool: the next 200 cannot fit and must come from a refill. A pool that
    // started over at its first byte without refilling would hand out the first token's bytes again.
    const first = decoded(randomToken(4000));
    const second = decoded(randomToken(200));
    const third = decoded(randomToken(4000));
    expect(first.subarray(0, 200).equals(second)).toBe(false);
    expect(first.equals(third)).toBe(false);
    // Random bytes are not mostly zero: a zeroed pool handed out after use would be.
    for (const bytes of [first, second, third]) {
      expect(bytes.filter((b) => b === 0).length).toBeLessThan(bytes.length / 16);
    }
  });

  it.each([0, -1, 4097, 1.5, Number.NaN])('refuses %s bytes', (bytes) => {
    expect(() => randomToken(bytes)).toThrow(RangeError);
  });
});
