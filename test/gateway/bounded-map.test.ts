import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../../gateway/bounded-map.js';

describe('BoundedMap', () => {
  it('drops the key added longest ago when a new key arrives at the bound', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2).set('c', 3);
    expect([...m.keys()]).toEqual(['b', 'c']);
  });

  it('replacing the value of a key it holds drops nothing', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2).set('a', 9);
    expect([...m.entries()]).toEqual([
      ['a', 9],
      ['b', 2],
    ]);
  });

  it('stays at its bound whatever arrives (keys an attacker mints)', () => {
    const m = new BoundedMap<number, number>(1_000);
    for (let i = 0; i < 100_000; i++) m.set(i, i);
    expect(m.size).toBe(1_000);
    expect(m.has(99_999) && !m.has(98_999)).toBe(true);
  });

  it('a bound of 0 keeps nothing; a bound that is not a whole number is refused', () => {
    const off = new BoundedMap<string, number>(0);
    off.set('a', 1);
    expect(off.size).toBe(0);
    expect(() => new BoundedMap(-1)).toThrow(/whole number/);
    expect(() => new BoundedMap(1.5)).toThrow(/whole number/);
  });
});
