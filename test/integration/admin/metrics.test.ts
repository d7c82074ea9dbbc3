// /metrics after a scripted run: each counter holds exactly what the script did (parsed from the
// Prometheus text), /api/stats agrees, and no label carries a user's identity or token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectFailure,
  login,
  loginOk,
  newUser,
  PASSWORD,
  register,
  sleep,
} from '../accounts/support.js';
import { type AdminFixture, admin, adminOk, startAdminFixture } from './support.js';

const LIMITS = `rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1000/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { failure_limit: 3, account_failure_limit: 1000 }`;

/** `name{a="x",b="y"}` → value, labels in the order prom-client writes them. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (m === null) throw new Error(`not Prometheus text: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

let fx: AdminFixture;
let text = '';
let metrics = new Map<string, number>();
let secrets: string[] = [];
const EXPECTED_REQUESTS = 18;

async function scrape(): Promise<void> {
  const res = await admin(fx.gw, 'GET', '/metrics', { token: null });
  expect(res.status).toBe(200);
  text = res.text;
  metrics = parse(text);
}

beforeAll(async () => {
  fx = await startAdminFixture({
    openLimits: false,
    yaml: LIMITS,
    extraRoutes: `  - { name: limited, path: /limited, upstream: "http://127.0.0.1:9", auth: public, rate_limit: 1/m }
  - { name: dead, path: /dead, upstream: "http://127.0.0.1:1", auth: public }`,
  });
  const gw = fx.gw;
  const a = newUser();
  const b = newUser();
  const regA = await register(gw, a);
  expect(regA.status).toBe(201); // 1
  expect((await register(gw, b)).status).toBe(201); // 2
  const pair = await loginOk(gw, a.email, a.password); // 3
  for (let i = 0; i < 3; i++)
    expect((await call(gw, 'GET', '/app/x', { token: pair.access })).status).toBe(200); // 6
  expectFailure(await call(gw, 'GET', '/app/x'), 401, 'missing_token'); // 7
  expectFailure(await call(gw, 'GET', '/app/x', { token: 'garbage' }), 401, 'invalid_token'); // 8
  expectFailure(await call(gw, 'GET', '/nope'), 404, 'route_not_found'); // 9
  for (let i = 0; i < 2; i++) expect((await call(gw, 'GET', '/pub/x')).status).toBe(200); // 11
  expectFailure(await call(gw, 'GET', '/dead/x'), 502, 'upstream_unavailable'); // 12
  for (let i = 0; i < 3; i++)
    expectFailure(await login(gw, b.email, `${PASSWORD}-no`), 401, 'invalid_credentials'); // 15
  expectFailure(await login(gw, b.email, PASSWORD), 429, 'account_locked'); // 16
  expect((await call(gw, 'GET', '/limited/x')).status).toBe(502); // 17: passes the limit, nobody listens on :9
  expectFailure(await call(gw, 'GET', '/limited/x'), 429, 'rate_limited'); // 18
  secrets = [a.email, b.email, pair.access, regA.body!.data!.id as string];
  // Metrics are recorded when each response closes, a moment after the client has read it.
  for (let i = 0; i < 50; i++) {
    await scrape();
    if (sum('portcullis_http_requests_total') >= EXPECTED_REQUESTS) break;
    await sleep(20);
  }
});
afterAll(() => fx.close());

function sum(name: string, labelPart = ''): number {
  let total = 0;
  for (const [key, value] of metrics) {
    if ((key === name || key.startsWith(`${name}{`)) && key.includes(labelPart)) total += value;
  }
  return total;
}
const req = (route: string, status: number) =>
  metrics.get(`portcullis_http_requests_total{route="${route}",status="${status}"}`);

describe('/metrics after a scripted run', () => {
  it('is Prometheus text, without a token', async () => {
    const res = await admin(fx.gw, 'GET', '/metrics', { token: null });
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# TYPE portcullis_http_requests_total counter');
    expect(text).toContain('# TYPE portcullis_http_request_duration_seconds histogram');
  });

  it('counts requests by route and status', () => {
    expect(sum('portcullis_http_requests_total')).toBe(EXPECTED_REQUESTS);
    expect(req('portcullis:register', 201)).toBe(2);
    expect(req('portcullis:login', 200)).toBe(1);
    expect(req('portcullis:login', 401)).toBe(3);
    expect(req('portcullis:login', 429)).toBe(1);
    expect(req('app', 200)).toBe(3);
    expect(req('app', 401)).toBe(2);
    expect(req('unmatched', 404)).toBe(1);
    expect(req('pub', 200)).toBe(2);
    expect(req('dead', 502)).toBe(1);
    expect(req('limited', 502)).toBe(1);
    expect(req('limited', 429)).toBe(1);
  });

  it('has a latency histogram per route whose count matches the requests', () => {
    expect(metrics.get('portcullis_http_request_duration_seconds_count{route="app"}')).toBe(5);
    expect(metrics.get('portcullis_http_request_duration_seconds_bucket{le="+Inf",route="app"}')).toBe(5);
    expect(metrics.get('portcullis_http_request_duration_seconds_sum{route="app"}')).toBeGreaterThan(0);
  });

  it('counts auth failures by code, rate-limit and lockout rejections, upstream errors', () => {
    expect(metrics.get('portcullis_auth_failures_total{code="invalid_credentials"}')).toBe(3);
    expect(metrics.get('portcullis_auth_failures_total{code="missing_token"}')).toBe(1);
    expect(metrics.get('portcullis_auth_failures_total{code="invalid_token"}')).toBe(1);
    expect(metrics.get('portcullis_auth_failures_total{code="token_revoked"}')).toBe(0);
    expect(metrics.get('portcullis_rate_limit_rejections_total')).toBe(1);
    expect(metrics.get('portcullis_lockout_rejections_total')).toBe(1);
    expect(metrics.get('portcullis_upstream_errors_total{code="upstream_unavailable"}')).toBe(2);
    expect(metrics.get('portcullis_upstream_errors_total{code="upstream_timeout"}')).toBe(0);
  });

  it('times the state store: one checkAccess per request with a valid token, no errors', () => {
    expect(metrics.get('portcullis_state_store_duration_seconds_count{op="checkAccess"}')).toBe(3);
    expect(metrics.get('portcullis_state_store_duration_seconds_count{op="createSession"}')).toBe(1);
    expect(sum('portcullis_state_store_errors_total')).toBe(0);
  });

  it('reports active sessions, the verified-token cache and the config generation', () => {
    expect(metrics.get('portcullis_active_sessions')).toBe(1);
    expect(metrics.get('portcullis_token_cache_misses_total')).toBe(1);
    expect(metrics.get('portcullis_token_cache_hits_total')).toBe(2);
    expect(metrics.get('portcullis_token_cache_entries')).toBe(1);
    expect(metrics.get('portcullis_config_generation')).toBe(1);
  });

  it('reports the audit queue: its depth, answers waiting on it (none once every login is answered), nothing dropped', () => {
    expect(metrics.get('portcullis_audit_queue_depth')).toBeGreaterThanOrEqual(0);
    expect(metrics.get('portcullis_audit_waiting_answers')).toBe(0);
    expect(metrics.get('portcullis_audit_dropped_total')).toBe(0);
  });

  it('includes process metrics', () => {
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(metrics.has(name), name).toBe(true);
    }
  });

  it('SECURITY: no label or value names a user, an email or a token', () => {
    expect(secrets).toHaveLength(4);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/[0-9a-f]{32}/);
  });

  it('counts the admin listener not at all, and a revocation shows as token_revoked', async () => {
    const before = sum('portcullis_http_requests_total');
    for (let i = 0; i < 3; i++) await adminOk(fx.gw, 'GET', '/api/stats');
    const user = newUser();
    const reg = await register(fx.gw, user);
    const pair = await loginOk(fx.gw, user.email, user.password);
    await adminOk(fx.gw, 'DELETE', `/api/users/${reg.body!.data!.id as string}/sessions`);
    expectFailure(await call(fx.gw, 'GET', '/app/x', { token: pair.access }), 401, 'token_revoked');
    await sleep(50);
    await scrape();
    expect(sum('portcullis_http_requests_total')).toBe(before + 3);
    expect(metrics.get('portcullis_auth_failures_total{code="token_revoked"}')).toBe(1);
    expect(metrics.get('portcullis_active_sessions')).toBe(1);
  });
});

describe('/api/stats', () => {
  it('sums the same counters as JSON for the admin page', async () => {
    await scrape();
    const s = await adminOk(fx.gw, 'GET', '/api/stats');
    expect(s.requests).toBe(sum('portcullis_http_requests_total'));
    expect(s.by_status).toMatchObject({ '5xx': 2 });
    expect(s).toMatchObject({
      rate_limited: 1,
      lockouts: 1,
      upstream_errors: { upstream_unavailable: 2, upstream_timeout: 0 },
      state_store_errors: 0,
      active_sessions: 1,
      generation: 1,
    });
    expect((s.auth_failures as Record<string, number>).invalid_credentials).toBe(3);
  });
});
