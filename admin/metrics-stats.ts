// The JSON counters of /api/stats (what the admin page polls): the metrics of /metrics, merged over every
// worker by the adapter (admin/metrics.ts) and summed here. No prom-client import, no policy.
import type { VerifiedCacheStats } from '../gateway/auth/verified-cache.js';
import {
  ACTIVE_SESSIONS,
  AUTH_FAILURES,
  GENERATION,
  IN_FLIGHT,
  LOCKOUTS,
  type MetricsSnapshot,
  mergeMetrics,
  RATE_LIMITED,
  REQUESTS,
  STATE_CHECKS_SKIPPED,
  STATE_ERRORS,
  TOKEN_CACHE_ENTRIES,
  TOKEN_CACHE_HITS,
  TOKEN_CACHE_MISSES,
  UPSTREAM_ERRORS,
} from './metrics.js';

export interface MetricsStats {
  readonly requests: number;
  readonly by_status: Readonly<Record<string, number>>;
  readonly auth_failures: Readonly<Record<string, number>>;
  readonly rate_limited: number;
  readonly lockouts: number;
  readonly upstream_errors: Readonly<Record<string, number>>;
  readonly state_store_errors: number;
  readonly state_checks_skipped: number;
  readonly active_sessions: number;
  readonly in_flight: number;
  readonly token_cache: VerifiedCacheStats;
  readonly generation: number;
  readonly uptime_s: number;
  /** The processes counted: 1, or the workers that answered. */
  readonly workers: number;
}

/** The counters of /metrics summed as JSON for the admin page, over the same snapshots. */
export async function metricsStats(snapshots: readonly MetricsSnapshot[]): Promise<MetricsStats> {
  const merged = await mergeMetrics(snapshots);
  const sum = (name: string, by?: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const v of merged.get(name) ?? []) {
      const key = by === undefined ? 'total' : String(v.labels[by] ?? '');
      out[key] = (out[key] ?? 0) + v.value;
    }
    return out;
  };
  const one = (name: string): number => sum(name).total ?? 0;
  const byStatus: Record<string, number> = {};
  let total = 0;
  for (const [status, n] of Object.entries(sum(REQUESTS, 'status'))) {
    const group = status === '0' ? 'none' : `${status[0]}xx`;
    byStatus[group] = (byStatus[group] ?? 0) + n;
    total += n;
  }
  const startedAt = Math.min(...snapshots.map((s) => s.startedAt));
  return {
    requests: total,
    by_status: byStatus,
    auth_failures: sum(AUTH_FAILURES, 'code'),
    rate_limited: one(RATE_LIMITED),
    lockouts: one(LOCKOUTS),
    upstream_errors: sum(UPSTREAM_ERRORS, 'code'),
    state_store_errors: one(STATE_ERRORS),
    state_checks_skipped: one(STATE_CHECKS_SKIPPED),
    active_sessions: one(ACTIVE_SESSIONS),
    in_flight: one(IN_FLIGHT),
    token_cache: {
      hits: one(TOKEN_CACHE_HITS),
      misses: one(TOKEN_CACHE_MISSES),
      size: one(TOKEN_CACHE_ENTRIES),
    },
    generation: one(GENERATION),
    uptime_s: snapshots.length === 0 ? 0 : Math.round((Date.now() - startedAt) / 1000),
    workers: snapshots.length,
  };
}
