// The audit log's hash chain, shared by every UserStore backend: each event stores
// SHA-256(previous hash + its own canonical content). It does not read or write any storage.
// The chain makes a changed, removed or reordered event detectable; it cannot detect the newest
// events being cut off the end, nor stop someone who can rewrite the whole table from recomputing it.

import { createHash } from 'node:crypto';

/** prev_hash of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedContent {
  readonly id: number;
  readonly at: number; // ms since the epoch
  readonly type: string;
  readonly user_id: string | null;
  readonly actor: string | null;
  readonly ip: string | null;
  readonly details: unknown;
}

/**
 * JSON with object keys sorted at every depth, so the same event hashes the same whatever order a
 * backend (e.g. PostgreSQL jsonb) gives its keys back in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
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

export function chainHash(prevHash: string, content: ChainedContent): string {
  // The id is hashed so that swapping two events' contents, or deleting one, breaks the chain.
  const body = canonicalJson([
    content.id,
    content.at,
    content.type,
    content.user_id,
    content.actor,
    content.ip,
    content.details,
  ]);
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

export interface StoredChainRow extends ChainedContent {
  readonly prev_hash: string;
  readonly hash: string;
}

/**
 * Feeds rows in id order; returns the id of the first row that does not link to the one before
 * it or whose content does not match its hash, or null when all rows seen so far are sound.
 */
export function createChainVerifier(): (row: StoredChainRow) => number | null {
  let expectedPrev = GENESIS_HASH;
  return (row) => {
    if (row.prev_hash !== expectedPrev || chainHash(row.prev_hash, row) !== row.hash) return row.id;
    expectedPrev = row.hash;
    return null;
  };
}
