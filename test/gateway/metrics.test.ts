import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMetrics, renderMetrics } from '../../admin/metrics.js';
import { metricsStats } from '../../admin/metrics-stats.js';
import { createLogger } from '../../gateway/logger.js';
import { instrumentStateStore } from '../../gateway/metrics.js';
import { createStateStore } from '../../gateway/state/create-state-store.js';
import { createMemoryStateStore } from '../../gateway/state/memory-store.js';
import type { SessionRecord } from '../../gateway/state/state-store.js';
import { testSession } from '../support/sessions.js';
import { runStateStoreSuite } from './state/state-store.suite.js';

runStateStoreSuite('memory, instrumented', async ({ tombstoneTtlMs }) => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
  const store = instrumentStateStore(
    createMemoryStateStore({ tombstoneTtlMs, now: clock.now }),
    createMetrics(),
  );
  return { store, clock, cleanup: () => store.close() };
});

const quiet = createLogger({
  level: 'silent',
  format: 'json',
  destination: new Writable({ write: (_c, _e, done) => done() }),
});
const many = { max_active: 10, on_exceed: 'evict_oldest' as const };

const session = (userId: string, ttlMs = 60_000): SessionRecord =>
  testSession(userId, { expires_at: Date.now() + ttlMs });

async function value(metrics: ReturnType<typeof createMetrics>, series: string): Promise<number | undefined> {
  const { text } = await renderMetrics([await metrics.snapshot()]);
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('instrumentStateStore', () => {
  it('times each operation and counts failures by operation (a Redis that refuses connections)', async () => {
    const metrics = createMetrics();
    const backend = await createStateStore('redis://127.0.0.1:1/0', { tombstoneTtlMs: 120_000, log: quiet });
    const store = instrumentStateStore(backend.store, metrics);
    try {
      for (let i = 0; i < 2; i++) {
        await expect(store.checkAccess('u', 's', 'j')).rejects.toMatchObject({ code: 'state_unavailable' });
      }
      await expect(store.listUserSessions('u')).rejects.toMatchObject({ code: 'state_unavailable' });
      expect(await value(metrics, 'portcullis_state_store_errors_total{op="checkAccess"}')).toBe(2);
      expect(await value(metrics, 'portcullis_state_store_errors_total{op="listUserSessions"}')).toBe(1);
      expect(await value(metrics, 'portcullis_state_store_duration_seconds_count{op="checkAccess"}')).toBe(2);
      expect((await metricsStats([await metrics.snapshot()])).state_store_errors).toBe(3);
    } finally {
      await store.close();
    }
  });

  it('counts successes without errors', async () => {
    const metrics = createMetrics();
    const store = instrumentStateStore(createMemoryStateStore({ tombstoneTtlMs: 1000 }), metrics);
    expect(await store.checkAccess('u', 's', 'j')).toMatchObject({ ok: false });
    expect(await value(metrics, 'portcullis_state_store_duration_seconds_count{op="checkAccess"}')).toBe(1);
    expect(await value(metrics, 'portcullis_state_store_errors_total{op="checkAccess"}')).toBe(0);
  });

  it('tracks live sessions: created, evicted, ended one by one or all, expired', async () => {
    const store = instrumentStateStore(createMemoryStateStore({ tombstoneTtlMs: 1000 }), createMetrics());
    const a = session('a');
    const b = session('a');
    const c = session('c');
    for (const s of [a, b, c]) await store.createSession(s, `h-${s.sid}`, many);
    expect(store.activeSessions()).toBe(3);
    await store.endSession('a', a.sid, 'token_revoked');
    expect(store.activeSessions()).toBe(2);
    await store.endUserSessions('a', 'token_revoked');
    expect(store.activeSessions()).toBe(1);
    // Single-session users: a new login evicts the previous session.
    await store.createSession(session('c'), 'h-next', { max_active: 1, on_exceed: 'evict_oldest' });
    expect(store.activeSessions()).toBe(1);
    await store.createSession(session('d', 30), 'h-short', many);
    expect(store.activeSessions()).toBe(2);
    await new Promise((r) => setTimeout(r, 60));
    expect(store.activeSessions()).toBe(1);
  });
});

describe('latency histograms (counted locally, rendered by prom-client)', () => {
  it('count each observation in the first bucket whose bound it does not exceed, cumulatively, with +Inf, sum and count', async () => {
    const metrics = createMetrics();
    const record = metrics.stateOp('checkAccess');
    // On a bound counts in that bucket (le: less or equal); above the last bound only in +Inf.
    for (const seconds of [0.0001, 0.0005, 0.0007, 0.001, 0.2, 2.5, 7]) record(seconds, false);
    const bucket = (le: string): Promise<number | undefined> =>
      value(metrics, `portcullis_state_store_duration_seconds_bucket{le="${le}",op="checkAccess"}`);
    expect(await bucket('0.0005')).toBe(2);
    expect(await bucket('0.001')).toBe(4);
    expect(await bucket('0.0025')).toBe(4);
    expect(await bucket('0.25')).toBe(5);
    expect(await bucket('2.5')).toBe(6);
    expect(await bucket('+Inf')).toBe(7);
    expect(await value(metrics, 'portcullis_state_store_duration_seconds_count{op="checkAccess"}')).toBe(7);
    expect(await value(metrics, 'portcullis_state_store_duration_seconds_sum{op="checkAccess"}')).toBeCloseTo(
      9.7023,
      10,
    );
    const { text } = await renderMetrics([await metrics.snapshot()]);
    expect(text).toContain('# TYPE portcullis_state_store_duration_seconds histogram');
    // One family, right after its errors counter, as prom-client's own histogram was rendered.
    expect(text.indexOf('# TYPE portcullis_state_store_duration_seconds histogram')).toBeGreaterThan(
      text.indexOf('# TYPE portcullis_state_store_errors_total counter'),
    );
    expect(text.match(/# TYPE portcullis_state_store_duration_seconds /g)).toHaveLength(1);
  });

  it('escape label values in the rendered text (a route name with a quote and a backslash)', async () => {
    const metrics = createMetrics();
    const ctx = {
      startedAt: performance.now() - 3,
      match: { entry: { config: { name: 'a"b\\c' } } },
      res: { headersSent: true, statusCode: 200 },
      upgrade: null,
      relayedStatus: null,
      errorCode: null,
    } as unknown as Parameters<typeof metrics.request>[0];
    metrics.request(ctx);
    expect(
      await value(metrics, 'portcullis_http_request_duration_seconds_bucket{le="0.005",route="a\\"b\\\\c"}'),
    ).toBe(1);
  });
});

describe("workers: snapshots merged by prom-client's AggregatorRegistry", () => {
  const request = (route: string, status: number) =>
    ({
      startedAt: performance.now() - 3,
      match: { entry: { config: { name: route } } },
      res: { headersSent: true, statusCode: status },
      upgrade: null,
      relayedStatus: null,
      errorCode: status === 401 ? 'invalid_token' : null,
    }) as unknown as Parameters<ReturnType<typeof createMetrics>['request']>[0];
  const sources = (generation: number, inFlight: number) => ({
    tokenCache: () => ({ hits: 2, misses: 1, size: 1 }),
    audit: () => ({ queued: 0, waiting: 0, dropped: 0 }),
    activeSessions: () => 1,
    stateChecksSkipped: () => 0,
    inFlight: () => inFlight,
    generation: () => generation,
  });

  it('sums counters, histograms and gauges; the generation is the lowest any worker runs', async () => {
    const [a, b] = [createMetrics(), createMetrics()];
    a.watch(sources(3, 1));
    b.watch(sources(2, 2));
    for (let i = 0; i < 3; i++) a.request(request('api', 200));
    b.request(request('api', 200));
    b.request(request('api', 401));
    // As they cross node:cluster IPC (serialization: 'advanced').
    const snapshots = [structuredClone(await a.snapshot()), structuredClone(await b.snapshot())];
    const { text } = await renderMetrics(snapshots);
    const series = (name: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };
    expect(series('portcullis_http_requests_total{route="api",status="200"}')).toBe(4);
    expect(series('portcullis_http_requests_total{route="api",status="401"}')).toBe(1);
    expect(series('portcullis_http_request_duration_seconds_count{route="api"}')).toBe(5);
    expect(series('portcullis_auth_failures_total{code="invalid_token"}')).toBe(1);
    expect(series('portcullis_in_flight_requests')).toBe(3);
    expect(series('portcullis_token_cache_hits_total')).toBe(4);
    expect(series('portcullis_config_generation')).toBe(2);
    expect(text.match(/# TYPE portcullis_http_requests_total /g)).toHaveLength(1);
    expect(await metricsStats(snapshots)).toMatchObject({
      requests: 5,
      by_status: { '2xx': 4, '4xx': 1 },
      in_flight: 3,
      token_cache: { hits: 4, misses: 2, size: 2 },
      generation: 2,
      workers: 2,
    });
  });

  it('passes one snapshot through as it is, process start time included', async () => {
    const { text } = await renderMetrics([await createMetrics().snapshot()]);
    expect(text).toMatch(/^process_start_time_seconds \d+/m);
  });
});
