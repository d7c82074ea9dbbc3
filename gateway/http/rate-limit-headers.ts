// RateLimit-Limit / -Remaining / -Reset (and Retry-After on refusals) for the most constrained of
// the limits that applied: the lowest remaining count, on a tie the one that resets last.
import type { LimitState } from '../state/limiter.js';
import type { GatewayResponse } from './response.js';

export function mostConstrained(states: readonly LimitState[]): LimitState | null {
  let worst: LimitState | null = null;
  for (const s of states) {
    if (
      worst === null ||
      s.remaining < worst.remaining ||
      (s.remaining === worst.remaining && s.resetMs > worst.resetMs)
    ) {
      worst = s;
    }
  }
  return worst;
}

/** Whole seconds until the limit's window resets, as RateLimit-Reset and Retry-After give them. */
const resetSeconds = (s: LimitState): string => String(Math.max(0, Math.ceil(s.resetMs / 1000)));

export function rateLimitHeaders(states: readonly LimitState[], refused: boolean): Record<string, string> {
  const s = mostConstrained(states);
  if (s === null) return {};
  const reset = resetSeconds(s);
  const headers: Record<string, string> = {
    'ratelimit-limit': String(s.limit),
    'ratelimit-remaining': String(s.remaining),
    'ratelimit-reset': reset,
  };
  if (refused) headers['retry-after'] = reset === '0' ? '1' : reset;
  return headers;
}

/** The RateLimit-* headers of a request that passed its limits, on whatever reply it gets. */
export function setRateLimitHeaders(res: GatewayResponse, states: readonly LimitState[]): void {
  const s = mostConstrained(states);
  if (s === null) return;
  res.setReplyHeader('ratelimit-limit', String(s.limit));
  res.setReplyHeader('ratelimit-remaining', String(s.remaining));
  res.setReplyHeader('ratelimit-reset', resetSeconds(s));
}
