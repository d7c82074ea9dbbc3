// The audit log's hash chain, shared by every UserStore backend: each event stores
// SHA-256(previous hash + its own canonical content). It does not read or write any storage.
// The chain makes a changed, removed or reordered event detectable; it cannot detect the newest
// events being cut off the end, nor stop someone who can rewrite the whole table from recomputing it,
// unless the head was recorded elsewhere and is checked against the log (`audit verify --expect-head`).

import { hash } from 'node:crypto';

/** prev_hash of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** The newest event of the chain: what the next one links to. */
export interface ChainHead {
  readonly id: number;
  readonly hash: string;
}

export interface ChainedContent {
  readonly id: number;
  readonly at: number; // ms since the epoch
  readonly type: string;
  readonly user_id: string | null;
  readonly actor: string | null;
  readonly ip: string | null;
  readonly details: unknown;
}

/** JSON of one member of the hashed array: an absent value is `null` there, as JSON.stringify writes it. */
const member = (value: unknown): string => JSON.stringify(value) ?? 'null';

/**
 * JSON with object keys sorted at every depth, so the same event hashes the same whatever order a
 * backend (e.g. PostgreSQL jsonb) gives its keys back in.
 */
export function canonicalJson(value: unknown): string {
  return member(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const source = value as Record<string, unknown>;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(source).sort()) {
      if (source[key] !== undefined) sorted[key] = sortKeys(source[key]);
    }
    return sorted;
  }
  return value;
}

/** What JSON storage gives back: Dates become strings, undefined members vanish, toJSON applies. */
export function toPlainJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null));
}

/**
 * SHA-256 of the previous hash, a newline and the canonical JSON array of the event's fields, the
 * details given already in canonical JSON. The array is written member by member: the same text
 * canonicalJson([id, at, type, user_id, actor, ip, details]) gives, without sorting the details twice.
 */
function hashOf(prevHash: string, content: ChainedContent, detailsJson: string): string {
  const body = `[${member(content.id)},${member(content.at)},${member(content.type)},${member(content.user_id)},${member(content.actor)},${member(content.ip)},${detailsJson}]`;
  return hash('sha256', `${prevHash}\n${body}`, 'hex');
}

/** What a store writes for a new event: its details as canonical JSON and its hash, the details serialised once. */
export function sealEvent(prevHash: string, content: ChainedContent): { details: string; hash: string } {
  const details = canonicalJson(content.details);
  // The id is hashed so that swapping two events' contents, or deleting one, breaks the chain.
  return { details, hash: hashOf(prevHash, content, details) };
}

export function chainHash(prevHash: string, content: ChainedContent): string {
  return sealEvent(prevHash, content).hash;
}

export interface StoredChainRow extends ChainedContent {
  readonly prev_hash: string;
  readonly hash: string;
}

/** Where the chain breaks: the first event that does not follow the one before it. */
export interface ChainBreak {
  readonly first_bad_id: number;
  /**
   * The ids skipped just before it (events deleted: ids are given one by one under the store's write
   * lock, so a gap is never the log's own doing), or null when the event itself or its link is wrong.
   */
  readonly missing: { readonly from: number; readonly to: number } | null;
}

/** A sound chain walked to its end. */
export interface ChainIntact {
  /** The newest event (null for an empty log): what an operator records to detect a cut or a rewrite later. */
  readonly head: ChainHead | null;
  /**
   * Asked with a head recorded earlier: whether the log still holds that event with that hash. `missing`
   * when it is gone (the newest events cut off, the log emptied or replaced), `differs` when another
   * event has its id (cut off and written again, or the chain rewritten from there on).
   */
  readonly expected_head?: 'matches' | 'missing' | 'differs';
}

export interface ChainVerifier {
  /**
   * Feeds rows in id order; returns where the chain breaks at the first row that does not come right
   * after the one before it (its id, its link or its content), or null while all rows seen are sound.
   */
  feed(row: StoredChainRow): ChainBreak | null;
  /** After the last row, when none broke the chain. */
  intact(): ChainIntact;
}

export function createChainVerifier(expectHead?: ChainHead): ChainVerifier {
  let expectedPrev = GENESIS_HASH;
  let expectedId = 1;
  let head: ChainHead | null = null;
  let hashAtExpected: string | null = null;
  return {
    feed(row) {
      const missing = row.id > expectedId ? { from: expectedId, to: row.id - 1 } : null;
      if (missing !== null || row.prev_hash !== expectedPrev || chainHash(row.prev_hash, row) !== row.hash) {
        return { first_bad_id: row.id, missing };
      }
      expectedPrev = row.hash;
      expectedId = row.id + 1;
      head = { id: row.id, hash: row.hash };
      if (row.id === expectHead?.id) hashAtExpected = row.hash;
      return null;
    },
    intact() {
      if (expectHead === undefined) return { head };
      const expected =
        hashAtExpected === null ? 'missing' : hashAtExpected === expectHead.hash ? 'matches' : 'differs';
      return { head, expected_head: expected };
    },
  };
}
