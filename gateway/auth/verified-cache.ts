// A bounded map from a whole access-token string to its frozen, verified claims, so a token seen again
// skips the signature check. It never replaces the per-request session lookup, and never outlives `exp`.
import { BoundedMap } from '../bounded-map.js';

export interface VerifiedCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
}

export interface VerifiedCache<T extends { readonly exp: number }> {
  /** The claims of a token verified before and not expired; counts a hit (a miss is the caller's call). */
  get(token: string, nowMs: number): T | undefined;
  /** Counts a token that goes on to a signature check (one that fails its shape check first does not). */
  miss(): void;
  set(token: string, claims: T, nowMs: number): void;
  stats(): VerifiedCacheStats;
}

/**
 * The lookup key: the token's last segment (a JWS signature). Hashing a fresh 400-character header string
 * costs more than the rest of a hit; the entry still holds, and a hit still compares, the WHOLE token.
 */
function keyOf(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}

export function createVerifiedCache<T extends { readonly exp: number }>(
  maxEntries: number,
): VerifiedCache<T> {
  // Matched on the WHOLE token: a key made of any part alone (the signature, the jti) would let a
  // re-encoded payload that reuses a valid signature borrow the claims verified for the original.
  const entries = new BoundedMap<string, { readonly token: string; readonly claims: T }>(maxEntries);
  let hits = 0;
  let misses = 0;
  return {
    get(token, nowMs) {
      const key = keyOf(token);
      const entry = entries.get(key);
      if (entry === undefined || entry.token !== token) return undefined;
      // No clock tolerance here: only a fresh verify may grant the 30 s grace after exp.
      if (nowMs < entry.claims.exp * 1000) {
        hits++;
        return entry.claims;
      }
      entries.delete(key);
      return undefined;
    },
    miss() {
      misses++;
    },
    set(token, claims, nowMs) {
      if (nowMs < claims.exp * 1000) entries.set(keyOf(token), { token, claims });
    },
    stats() {
      return { hits, misses, size: entries.size };
    },
  };
}
