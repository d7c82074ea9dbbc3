// server.workers: 2 on Redis and PostgreSQL, run as users run it (the built CLI): both workers serve
// traffic on one port, sessions hold across them, a crashed worker is replaced, SIGTERM exits 0.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPem } from '../../gateway/auth/keys.js';
import { createTestDatabase, type TestDatabase } from '../gateway/users/postgres-harness.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { call, registerAndLogin } from './accounts/support.js';
import { type ChildGateway, runCliWith, sleep, startChildGateway, waitFor } from './helpers.js';

let redis: RedisServer;
let db: TestDatabase;
let upstream: RecordingUpstream;
let gw: ChildGateway;

beforeAll(async () => {
  [redis, db, upstream] = await Promise.all([startRedis(), createTestDatabase(), startRecordingUpstream()]);
  gw = await startChildGateway({
    yaml: (dir) => {
      const key = join(dir, 'assertion.pem');
      writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
      return `
server: { host: 127.0.0.1, port: 0, workers: 2, shutdown_timeout: 5s }
admin: { host: 127.0.0.1, port: 0, token: admin-token-for-tests-0123456789abcdef }
storage: { users: "${db.url}", state: "${redis.url}" }
tokens: { secret: "test-secret-that-is-at-least-32-bytes-long!!" }
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
rate_limits: { global: { anonymous: 100000/h, authenticated: 100000/h } }
identity_headers: { assertion_key_file: "${key}" }
logging: { level: info }
routes:
  - { name: api, path: /api/things, upstream: "${upstream.origin}", auth: required }
`;
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await Promise.all([redis?.stop(), db?.drop(), upstream?.close()]);
});

const workerPids = (): Set<unknown> =>
  new Set(gw.logs.filter((l) => l.msg === 'gateway listening').map((l) => l.pid));

describe('server.workers: 2', () => {
  it('starts two workers on one port, both serving the same sessions', async () => {
    await waitFor(() => workerPids().size === 2, 10_000);
    const ports = new Set(gw.logs.filter((l) => l.msg === 'gateway listening').map((l) => l.port));
    expect(ports.size).toBe(1);
    const { pair } = await registerAndLogin(gw);
    // Fresh connections are spread over the workers by the primary; the session lives in Redis.
    for (let i = 0; i < 30; i++) {
      expect((await call(gw, 'GET', '/api/things/x', { token: pair.access })).status).toBe(200);
    }
    // Access lines are flushed at least once a second.
    const served = () =>
      new Set(gw.logs.filter((l) => l.msg === 'request' && l.route === 'api').map((l) => l.pid));
    await waitFor(() => served().size === 2, 3_000, 'access lines from both workers');
    // A logout handled by either worker ends the session for both.
    expect((await call(gw, 'POST', '/api/auth/logout', { token: pair.access })).status).toBe(200);
    for (let i = 0; i < 6; i++) {
      const res = await call(gw, 'GET', '/api/things/x', { token: pair.access });
      expect(res.body?.code).toBe('token_revoked');
    }
  });

  it('replaces a worker that dies, without dropping the port', async () => {
    const [victim] = [...workerPids()] as number[];
    process.kill(victim!, 'SIGKILL');
    await waitFor(
      () => gw.logs.some((l) => l.msg === 'worker exited unexpectedly; starting a new one'),
      5_000,
    );
    // The dead worker's pid has a key of its own: `pid` is the primary's, as on every line it writes.
    const exited = gw.logs.find((l) => l.msg === 'worker exited unexpectedly; starting a new one');
    expect(exited).toMatchObject({ worker_pid: victim, signal: 'SIGKILL' });
    expect(exited?.pid).not.toBe(victim);
    await waitFor(() => workerPids().size === 3, 10_000);
    await sleep(200);
    const { pair } = await registerAndLogin(gw);
    for (let i = 0; i < 10; i++) {
      expect((await call(gw, 'GET', '/api/things/y', { token: pair.access })).status).toBe(200);
    }
  });

  it('SECURITY: admin token refusals on every worker count against one window per address', async () => {
    // Fresh connections alternate between the workers; counted per process, ten refusals spread over
    // two would leave each worker five short of the default limit (10/m).
    const target = { url: `http://127.0.0.1:${gw.adminPort}` };
    for (let i = 0; i < 10; i++) {
      const res = await call(target, 'GET', '/api/routes', {
        token: `wrong-token-${i}-aaaaaaaaaaaaaaaaaaaa`,
      });
      expect(res.body?.code).toBe('invalid_token');
    }
    for (let i = 0; i < 4; i++) {
      const res = await call(target, 'GET', '/api/routes', {
        token: 'admin-token-for-tests-0123456789abcdef',
      });
      expect(res.status).toBe(429);
      expect(res.body?.code).toBe('rate_limited');
    }
    // Logged once, by the worker whose refusal used the window up (lines are flushed once a second).
    const lockLines = () =>
      gw.logs.filter((l) => typeof l.msg === 'string' && /too many refusals/.test(l.msg));
    await waitFor(() => lockLines().length === 1, 3_000, 'the lock line');
    await sleep(1_200);
    expect(lockLines()).toHaveLength(1);
  });

  it('SIGTERM stops every worker and the primary exits 0', async () => {
    expect(await gw.stop()).toBe(0);
  });
});

describe('server.workers: 2 with a user store that does not answer', () => {
  it('the primary exits 1 once a worker fails to start (no endless replacements), the cause on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-workers-down-'));
    try {
      const key = join(dir, 'assertion.pem');
      writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
      const file = join(dir, 'gateway.yaml');
      writeFileSync(
        file,
        `
server: { host: 127.0.0.1, port: 0, workers: 2, shutdown_timeout: 2s }
admin: { host: 127.0.0.1, port: 0, token: admin-token-for-tests-0123456789abcdef }
storage: { users: "postgres://postgres@127.0.0.1:1/nothing_here", state: "${redis.url}" }
tokens: { secret: "test-secret-that-is-at-least-32-bytes-long!!" }
identity_headers: { assertion_key_file: "${key}" }
logging: { level: info }
routes:
  - { name: api, path: /api/things, upstream: "${upstream.origin}", auth: required }
`,
      );
      const r = await runCliWith({ cwd: dir, timeoutMs: 20_000 }, 'start', '--config', file);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toContain('portcullis: cannot start:');
      const lines = r.out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string });
      expect(lines.some((l) => l.msg === 'a worker failed to start before any was serving; stopping')).toBe(
        true,
      );
      expect(lines.filter((l) => l.msg === 'worker exited unexpectedly; starting a new one')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
