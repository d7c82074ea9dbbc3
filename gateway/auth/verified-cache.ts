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

export function createVerifiedCache<T extends { readonly exp: number }>(
  maxEntries: number,
): VerifiedCache<T> {
  // Keyed by the WHOLE token: a key made of any part (the signature, the jti) would let a re-encoded payload
  // that reuses a valid signature borrow the claims verified for the original.
  const entries = new BoundedMap<string, T>(maxEntries);
  let hits = 0;
  let misses = 0;
  return {
    get(token, nowMs) {
      const claims = entries.get(token);
      if (claims !== undefined) {
        // No clock tolerance here: only a fresh verify may grant the 30 s grace after exp.
        if (nowMs < claims.exp * 1000) {
          hits++;
          return claims;
        }
        entries.delete(token);
      }
      return undefined;
    },
    miss() {
      misses++;
    },
    set(token, claims, nowMs) {
      if (nowMs < claims.exp * 1000) entries.set(token, claims);
    },
    stats() {
      return { hits, misses, size: entries.size };
    },
  };
}
