// The audit chain's hash: the one-pass writer must give exactly the bytes the chain was defined by,
// SHA-256(prev + "\n" + canonical JSON of [id, at, type, user_id, actor, ip, details]), or every chain
// written before it would stop verifying.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type ChainedContent,
  chainHash,
  createChainVerifier,
  GENESIS_HASH,
  sealEvent,
} from '../../../gateway/users/audit-chain.js';

/** The definition, written independently: keys sorted at every depth, undefined members dropped. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sorted(v)]));
  }
  return value;
}

function definedHash(prev: string, c: ChainedContent): string {
  const body = JSON.stringify(sorted([c.id, c.at, c.type, c.user_id, c.actor, c.ip, c.details]));
  return createHash('sha256').update(`${prev}\n${body}`).digest('hex');
}

const base: ChainedContent = {
  id: 7,
  at: 1_764_547_200_123,
  type: 'login',
  user_id: 'u-1',
  actor: null,
  ip: '203.0.113.9',
  details: null,
};

describe('audit chain hash', () => {
  it.each<[string, Partial<ChainedContent> & Record<string, unknown>]>([
    ['no details', {}],
    ['nested details with unsorted keys', { details: { z: 1, a: { y: [3, { d: 1, c: 2 }], b: 'x' } } }],
    ['unicode and escapes', { type: 'e\u0301\n"q"', details: { ключ: 'Zoë ｚ', tab: '\t' } }],
    ['an absent actor and ip', { actor: undefined, ip: undefined }],
    ['undefined members inside details', { details: { keep: 1, drop: undefined, list: [1, null] } }],
    ['large and negative numbers', { id: 2 ** 40, at: -1, details: { n: 1.5e300, m: -0 } }],
  ])('matches the definition: %s', (_what, change) => {
    const content = { ...base, ...change } as ChainedContent;
    const prev = 'ab'.repeat(32);
    expect(chainHash(prev, content)).toBe(definedHash(prev, content));
    const sealed = sealEvent(prev, content);
    expect(sealed.hash).toBe(definedHash(prev, content));
    expect(sealed.details).toBe(JSON.stringify(sorted(content.details)) ?? 'null');
  });

  it('a chain sealed row by row verifies, and a changed row is named', () => {
    const verify = createChainVerifier();
    let prev = GENESIS_HASH;
    const rows = [1, 2, 3].map((id) => {
      const content = { ...base, id, details: { n: id } };
      const { hash } = sealEvent(prev, content);
      const row = { ...content, prev_hash: prev, hash };
      prev = hash;
      return row;
    });
    expect(rows.map((r) => verify.feed(r))).toEqual([null, null, null]);
    expect(verify.intact()).toEqual({ head: { id: 3, hash: rows[2]!.hash } });
    const again = createChainVerifier();
    expect(again.feed(rows[0]!)).toBeNull();
    expect(again.feed({ ...rows[1]!, details: { n: 99 } })).toEqual({ first_bad_id: 2, missing: null });
    // A deleted event is named as missing, not as the event after it.
    const gap = createChainVerifier();
    expect(gap.feed(rows[0]!)).toBeNull();
    expect(gap.feed(rows[2]!)).toEqual({ first_bad_id: 3, missing: { from: 2, to: 2 } });
    expect(createChainVerifier().feed(rows[2]!)).toEqual({ first_bad_id: 3, missing: { from: 1, to: 2 } });
    // A head recorded earlier: still there, gone (the tail cut off), or another event in its place.
    const expecting = (id: number, hash: string, fed = rows) => {
      const v = createChainVerifier({ id, hash });
      for (const r of fed) expect(v.feed(r)).toBeNull();
      return v.intact().expected_head;
    };
    expect(expecting(2, rows[1]!.hash)).toBe('matches');
    expect(expecting(3, rows[2]!.hash, rows.slice(0, 2))).toBe('missing');
    expect(expecting(2, rows[2]!.hash)).toBe('differs');
    expect(createChainVerifier({ id: 1, hash: rows[0]!.hash }).intact()).toEqual({
      head: null,
      expected_head: 'missing',
    });
  });
});
