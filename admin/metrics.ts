// The prom-client adapter (the only module importing it): the gateway's counters, histograms and gauges,
// rendered as Prometheus text for /metrics and summed as JSON for the admin page. With workers, each one
// hands over a snapshot and prom-client's AggregatorRegistry merges them. It decides no policy.
import { performance } from 'node:perf_hooks';
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { AuditStats } from '../gateway/audit.js';
import type { VerifiedCacheStats } from '../gateway/auth/verified-cache.js';
import type { GatewayMetrics, StateOp } from '../gateway/metrics.js';
import type { RequestContext } from '../gateway/pipeline/context.js';
import { LocalHistogram } from './local-histogram.js';

/** Read at scrape time: they exist only once the services are open. */
export interface MetricSources {
  tokenCache(): VerifiedCacheStats;
  audit(): AuditStats;
  activeSessions(): number;
  stateChecksSkipped(): number;
  inFlight(): number;
  generation(): number;
}

/**
 * One process's metrics as prom-client's metric JSON (Registry.getMetricsAsJSON): what a worker hands the
 * worker answering a scrape. Plain data, so that it crosses node:cluster IPC.
 */
export interface MetricsSnapshot {
  readonly own: readonly object[];
  readonly process: readonly object[];
  /** When this process's gateway started (ms since the epoch). */
  readonly startedAt: number;
}

export interface AdminMetrics extends GatewayMetrics {
  /** Once per admin API call (`/api/*`), refused ones included; 0 = no answer was sent. */
  adminRequest(status: number): void;
  watch(sources: MetricSources): void;
  /** This process's metrics, to be merged with the other workers' (renderMetrics, metricsStats). */
  snapshot(): Promise<MetricsSnapshot>;
}

/** The answers that count as authentication or authorisation failures. */
export const AUTH_FAILURE_CODES = [
  'invalid_credentials',
  'missing_token',
  'invalid_token',
  'token_expired',
  'token_revoked',
  'session_replaced',
  'device_mismatch',
  'refresh_reused',
  'forbidden',
] as const;
const UPSTREAM_CODES = ['upstream_unavailable', 'upstream_timeout'] as const;
const UNMATCHED = 'unmatched';
export const REQUESTS = 'portcullis_http_requests_total';
export const STATE_ERRORS = 'portcullis_state_store_errors_total';
export const AUTH_FAILURES = 'portcullis_auth_failures_total';
export const RATE_LIMITED = 'portcullis_rate_limit_rejections_total';
export const LOCKOUTS = 'portcullis_lockout_rejections_total';
export const UPSTREAM_ERRORS = 'portcullis_upstream_errors_total';
export const GENERATION = 'portcullis_config_generation';
export const STATE_CHECKS_SKIPPED = 'portcullis_state_checks_skipped_total';
export const TOKEN_CACHE_HITS = 'portcullis_token_cache_hits_total';
export const TOKEN_CACHE_MISSES = 'portcullis_token_cache_misses_total';
export const ACTIVE_SESSIONS = 'portcullis_active_sessions';
export const IN_FLIGHT = 'portcullis_in_flight_requests';
export const TOKEN_CACHE_ENTRIES = 'portcullis_token_cache_entries';
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const STATE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

// Process metrics (CPU, memory, event loop, GC) describe the process, not one gateway: collected once,
// however many gateways a process starts (tests start dozens), and appended to each scrape.
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type Child = { inc(value?: number): void };
type Read = (s: MetricSources) => number;
/** Registers a metric read from the sources at scrape time. */
type ScrapedMetric = (name: string, help: string, read: Read) => void;
export type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

/**
 * The status label: the answer sent, an upgrade's relayed 101 or upstream refusal included; 0 = nothing was
 * sent (the client left first).
 */
function statusOf(ctx: RequestContext): number {
  if (ctx.relayedStatus !== null) return ctx.relayedStatus;
  return ctx.res.headersSent ? ctx.res.statusCode : 0;
}

export function createMetrics(): AdminMetrics {
  const registry = new Registry();
  const startedAt = Date.now();
  let sources: MetricSources | null = null;
  const at = <T>(read: (s: MetricSources) => T, fallback: T): T =>
    sources === null ? fallback : read(sources);

  // Counted per request in plain numbers (perRoute below) and handed to prom-client at scrape time:
  // its inc() validates and hashes the labels on every call.
  new Counter({
    name: REQUESTS,
    help: 'Requests on the main listener by route and status (0: no answer sent).',
    labelNames: ['route', 'status'],
    registers: [registry],
    collect() {
      for (const [route, entry] of perRoute) {
        for (const count of entry.byStatus.values()) {
          if (count.pending === 0) continue;
          this.inc({ route, status: count.status }, count.pending);
          count.pending = 0;
        }
      }
    },
  });
  const latency = new LocalHistogram(
    'portcullis_http_request_duration_seconds',
    'Time from the request line to the closed response, by route.',
    'route',
    LATENCY_BUCKETS,
  );
  const authFailures = new Counter({
    name: AUTH_FAILURES,
    help: 'Requests refused for their credentials or roles, by error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: RATE_LIMITED,
    help: 'Requests refused with 429 rate_limited (global, route, login and register limits).',
    registers: [registry],
  });
  const lockouts = new Counter({
    name: LOCKOUTS,
    help: 'Logins refused with 429 account_locked.',
    registers: [registry],
  });
  // The admin listener's own series, apart from the main listener's: a burst of 401s is someone
  // guessing the admin token, 429s an address locked out for it (admin.token_failures).
  const adminRequests = new Counter({
    name: 'portcullis_admin_requests_total',
    help: 'Admin API calls by status (401: refused at the token gate; 429: locked out after too many; 0: no answer sent).',
    labelNames: ['status'],
    registers: [registry],
  });
  adminRequests.inc({ status: '401' }, 0);
  adminRequests.inc({ status: '429' }, 0);
  const upstreamErrors = new Counter({
    name: UPSTREAM_ERRORS,
    help: 'Requests the upstream failed (refused, broke off or timed out), by error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const stateErrors = new Counter({
    name: STATE_ERRORS,
    help: 'State-store calls that failed, by operation.',
    labelNames: ['op'],
    registers: [registry],
  });
  const stateLatency = new LocalHistogram(
    'portcullis_state_store_duration_seconds',
    'State-store call latency by operation (checkAccess is the per-request one).',
    'op',
    STATE_BUCKETS,
  );
  // Totals kept elsewhere are turned into counter increments at scrape time.
  const mirrored: ScrapedMetric = (name, help, read) => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = at(read, seen);
        if (now > seen) this.inc(now - seen);
        seen = now;
      },
    });
  };
  const gauge: ScrapedMetric = (name, help, read) => {
    new Gauge({
      name,
      help,
      // Summed over workers like the others, except the generation: every worker runs the same one, and
      // the lowest is the one the whole process is sure to run.
      aggregator: name === GENERATION ? 'min' : 'sum',
      registers: [registry],
      collect() {
        this.set(at(read, 0));
      },
    });
  };
  // Read from the sources at scrape time: a gauge as it is, a total kept elsewhere as counter increments.
  const scraped: ReadonlyArray<readonly [ScrapedMetric, string, string, Read]> = [
    [
      mirrored,
      STATE_CHECKS_SKIPPED,
      'Session checks skipped under on_state_error: allow.',
      (s) => s.stateChecksSkipped(),
    ],
    [
      mirrored,
      TOKEN_CACHE_HITS,
      'Access tokens whose verified claims came from the cache.',
      (s) => s.tokenCache().hits,
    ],
    [
      mirrored,
      TOKEN_CACHE_MISSES,
      'Access tokens verified by signature (not in the cache).',
      (s) => s.tokenCache().misses,
    ],
    [
      gauge,
      ACTIVE_SESSIONS,
      'Live sessions as this process saw them created and ended (per-process approximation).',
      (s) => s.activeSessions(),
    ],
    [gauge, IN_FLIGHT, 'Main-listener requests not yet closed.', (s) => s.inFlight()],
    [gauge, TOKEN_CACHE_ENTRIES, 'Verified access tokens held in the cache.', (s) => s.tokenCache().size],
    [
      gauge,
      'portcullis_audit_queue_depth',
      'Audit events and login records queued, not yet written to the user store.',
      (s) => s.audit().queued,
    ],
    [
      gauge,
      'portcullis_audit_waiting_answers',
      'Login answers held until their records are written (1 s at most each).',
      (s) => s.audit().waiting,
    ],
    [
      mirrored,
      'portcullis_audit_dropped_total',
      'Audit events and login records given up on (queue full, refused on every retry, lost at shutdown).',
      (s) => s.audit().dropped,
    ],
    [gauge, GENERATION, 'Config generation (1 at start, +1 per reload).', (s) => s.generation()],
  ];
  for (const [register, name, help, read] of scraped) register(name, help, read);

  // Children cached per label value: a request does two Map lookups, not a label hash per metric.
  const perRoute = new Map<
    string,
    { latency: (seconds: number) => void; byStatus: Map<number, { status: string; pending: number }> }
  >();
  const codeChildren = new Map<string, Child>();
  // Every known code is written from the start (0), so a dashboard's rate() has a series before the first failure.
  for (const code of AUTH_FAILURE_CODES) {
    authFailures.inc({ code }, 0);
    codeChildren.set(code, authFailures.labels(code));
  }
  for (const code of UPSTREAM_CODES) {
    upstreamErrors.inc({ code }, 0);
    codeChildren.set(code, upstreamErrors.labels(code));
  }
  codeChildren.set('rate_limited', rateLimited);
  codeChildren.set('account_locked', lockouts);

  function routeChildren(route: string) {
    let entry = perRoute.get(route);
    if (entry === undefined) {
      entry = { latency: latency.recorder(route), byStatus: new Map() };
      perRoute.set(route, entry);
    }
    return entry;
  }

  /** Counts one answer of `route` with `status`; returns the route's children. */
  function countRequest(route: string, status: number) {
    const entry = routeChildren(route);
    const count = entry.byStatus.get(status);
    if (count === undefined) entry.byStatus.set(status, { status: String(status), pending: 1 });
    else count.pending++;
    return entry;
  }

  return {
    request(ctx) {
      const seconds = (performance.now() - ctx.startedAt) / 1000;
      const entry = countRequest(ctx.match?.entry.config.name ?? UNMATCHED, statusOf(ctx));
      entry.latency(seconds);
      if (ctx.errorCode !== null) codeChildren.get(ctx.errorCode)?.inc();
    },
    refused(status) {
      countRequest(UNMATCHED, status);
    },
    adminRequest(status) {
      adminRequests.inc({ status: String(status) });
    },
    stateOp(op: StateOp) {
      const timing = stateLatency.recorder(op);
      stateErrors.inc({ op }, 0);
      const errors = stateErrors.labels(op);
      return (seconds, failed) => {
        timing(seconds);
        if (failed) errors.inc();
      };
    },
    watch(next) {
      sources = next;
    },
    async snapshot() {
      // The local histograms join the registry's metrics in prom-client's JSON shape, each right after
      // the counter of the same family, where prom-client's own would be.
      const own: object[] = [];
      for (const metric of await registry.getMetricsAsJSON()) {
        own.push(metric);
        if (metric.name === REQUESTS) own.push(latency.get());
        if (metric.name === STATE_ERRORS) own.push(stateLatency.get());
      }
      return { own, process: await processMetrics().getMetricsAsJSON(), startedAt };
    },
  };
}

/** A snapshot as it arrives over IPC from another worker, checked before it is merged. */
export function isMetricsSnapshot(value: unknown): value is MetricsSnapshot {
  if (value === null || typeof value !== 'object') return false;
  const s = value as Record<string, unknown>;
  const metrics = (list: unknown): boolean =>
    Array.isArray(list) && list.every((m) => m !== null && typeof m === 'object');
  return metrics(s.own) && metrics(s.process) && typeof s.startedAt === 'number';
}

/**
 * Merges snapshots with prom-client's public aggregation, each metric by its own aggregator (counters and
 * histograms summed; prom-client's for its process metrics). A single snapshot is passed through as it is:
 * `first` of one source keeps even what prom-client omits across workers (the process start time).
 */
function aggregate(snapshots: readonly MetricsSnapshot[], part: 'own' | 'process'): Registry {
  const one = snapshots.length === 1;
  return AggregatorRegistry.aggregate(
    snapshots.map((s) => (one ? s[part].map((m) => ({ ...m, aggregator: 'first' })) : [...s[part]])),
  );
}

/** Prometheus text for the whole process: this one, or every worker's snapshot merged. */
export async function renderMetrics(
  snapshots: readonly MetricsSnapshot[],
): Promise<{ contentType: string; text: string }> {
  const own = aggregate(snapshots, 'own');
  const [ownText, processText] = await Promise.all([
    own.metrics(),
    aggregate(snapshots, 'process').metrics(),
  ]);
  return { contentType: own.contentType, text: `${ownText}\n${processText}` };
}

/** Every worker's snapshot merged into one series list per metric (the data of renderMetrics). */
export async function mergeMetrics(
  snapshots: readonly MetricsSnapshot[],
): Promise<Map<string, MetricJson['values']>> {
  const merged = new Map<string, MetricJson['values']>();
  for (const metric of await aggregate(snapshots, 'own').getMetricsAsJSON())
    merged.set(metric.name, metric.values);
  return merged;
}
