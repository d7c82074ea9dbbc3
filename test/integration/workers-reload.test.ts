// server.workers: 2, run as users run it (the built CLI on Redis and PostgreSQL): a reload from the admin
// API or SIGHUP (to the primary or a worker) reaches every worker at one generation, an invalid file or a
// silent worker changes none, a replacement worker starts on the config in force, restart-only keys are
// reported, admin.token rotates everywhere, and /metrics and /api/stats count the whole process.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPem } from '../../gateway/auth/keys.js';
import { createTestDatabase, type TestDatabase } from '../gateway/users/postgres-harness.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { openWs, startWsUpstream, type WsUpstream } from '../support/ws.js';
import { call, type Reply } from './accounts/support.js';
import { type ChildGateway, startChildGateway, waitFor } from './helpers.js';

const TOKEN = 'admin-token-for-tests-0123456789abcdef';
const NEW_TOKEN = 'rotated-admin-token-0123456789abcdefghij';
/** Fresh connections alternate between the two workers: this many reach each of them several times. */
const ROUNDS = 16;

let redis: RedisServer;
let db: TestDatabase;
let upstream: RecordingUpstream;
let ws: WsUpstream;
let gw: ChildGateway;
let keyFile = '';

function yaml(route: string, options: { token?: string; server?: string; extraRoute?: string } = {}): string {
  return `
server: { host: 127.0.0.1, port: 0, workers: 2, shutdown_timeout: 5s${options.server ?? ''} }
admin: { host: 127.0.0.1, port: 0, token: ${options.token ?? TOKEN}, token_failures: 1000/m }
storage: { users: "${db.url}", state: "${redis.url}" }
tokens: { secret: "test-secret-that-is-at-least-32-bytes-long!!" }
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
rate_limits: { global: { anonymous: 100000/h, authenticated: 100000/h } }
identity_headers: { assertion_key_file: "${keyFile}" }
logging: { level: info }
routes:
  - { name: ${route}, path: /${route}, upstream: "${upstream.origin}", auth: public }
${options.extraRoute ?? ''}`;
}

const adminTarget = () => ({ url: `http://127.0.0.1:${gw.adminPort}` });
const adminCall = (method: string, path: string, token = TOKEN): Promise<Reply> =>
  call(adminTarget(), method, path, { token });

/** The generation of `/api/routes` on ROUNDS fresh connections (both workers answer some). */
async function generationsSeen(token = TOKEN): Promise<Set<unknown>> {
  const seen = new Set<unknown>();
  for (let i = 0; i < ROUNDS; i++) {
    const res = await adminCall('GET', '/api/routes', token);
    expect(res.status).toBe(200);
    seen.add(res.body?.data?.generation);
  }
  return seen;
}

/** The statuses of ROUNDS requests to `path` on fresh connections. */
async function statuses(path: string): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < ROUNDS; i++) seen.add((await call(gw, 'GET', path)).status);
  return seen;
}

const workerPids = (): Set<unknown> =>
  new Set(gw.logs.filter((l) => l.msg === 'gateway listening').map((l) => l.pid));

beforeAll(async () => {
  [redis, db, upstream, ws] = await Promise.all([
    startRedis(),
    createTestDatabase(),
    startRecordingUpstream(),
    startWsUpstream(),
  ]);
  gw = await startChildGateway({
    yaml: (dir) => {
      keyFile = join(dir, 'assertion.pem');
      writeFileSync(keyFile, generateKeyPem('EdDSA'), { mode: 0o600 });
      return yaml('v1');
    },
  });
  await waitFor(() => workerPids().size === 2, 10_000, 'two workers listening');
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await Promise.all([redis?.stop(), db?.drop(), upstream?.close(), ws?.close()]);
});

describe('reload with server.workers: 2', () => {
  it('POST /api/reload answers once every worker runs the new routes, all at one generation', async () => {
    expect(await statuses('/v1/x')).toEqual(new Set([200]));
    writeFileSync(gw.configFile, yaml('v2'));
    const res = await adminCall('POST', '/api/reload');
    expect(res.status).toBe(200);
    expect(res.body?.data?.generation).toBe(2);
    // No request after the answer reaches the old routes, whichever worker takes it.
    expect(await statuses('/v2/x')).toEqual(new Set([200]));
    expect(await statuses('/v1/x')).toEqual(new Set([404]));
    expect(await generationsSeen()).toEqual(new Set([2]));
    expect(res.body?.data).toMatchObject({ workers: 2, restart_required: [], admin_token_changed: false });
  });

  it('SIGHUP to the primary reloads every worker to the same generation', async () => {
    writeFileSync(gw.configFile, yaml('v3'));
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => l.msg === 'config reloaded on every worker' && l.generation === 3, 10_000);
    expect(await statuses('/v3/x')).toEqual(new Set([200]));
    expect(await statuses('/v2/x')).toEqual(new Set([404]));
    expect(await generationsSeen()).toEqual(new Set([3]));
  });

  it('an invalid file is refused for all: the API says why and every worker keeps the running config', async () => {
    writeFileSync(gw.configFile, yaml('v4').replace(`"${upstream.origin}"`, '"ftp://nowhere"'));
    const res = await adminCall('POST', '/api/reload');
    expect(res.status).toBe(400);
    expect(res.body?.code).toBe('validation_failed');
    expect(res.body?.message).toMatch(/routes\[0\]\.upstream/);
    expect(await generationsSeen()).toEqual(new Set([3]));
    expect(await statuses('/v3/x')).toEqual(new Set([200]));

    const failures = () =>
      gw.logs.filter((l) => l.msg === 'config reload failed: keeping the current config');
    const before = failures().length;
    gw.child.kill('SIGHUP');
    await waitFor(() => failures().length > before, 5_000, 'the reload failure line');
    // The primary checks the file once: one line, not one per worker.
    await new Promise((r) => setTimeout(r, 300));
    expect(failures().length).toBe(before + 1);
    expect(await generationsSeen()).toEqual(new Set([3]));
    expect(await statuses('/v3/x')).toEqual(new Set([200]));
  });

  it('/metrics and /api/stats count the requests of both workers, on every scrape', async () => {
    const served = () =>
      gw.logs.filter((l) => l.msg === 'request' && l.route === 'counted' && l.status === 200);
    const counted = `  - { name: counted, path: /counted, upstream: "${upstream.origin}", auth: public }`;
    writeFileSync(gw.configFile, yaml('v3', { extraRoute: counted }));
    expect((await adminCall('POST', '/api/reload')).status).toBe(200);
    const sent = 2 * ROUNDS;
    for (let i = 0; i < sent; i++) expect((await call(gw, 'GET', '/counted/x')).status).toBe(200);
    await waitFor(() => served().length === sent, 5_000, 'an access line per request');
    expect(new Set(served().map((l) => l.pid)).size).toBe(2);
    for (let i = 0; i < 6; i++) {
      const res = await call(adminTarget(), 'GET', '/metrics');
      expect(res.status).toBe(200);
      expect(res.text).toContain(`portcullis_http_requests_total{route="counted",status="200"} ${sent}\n`);
      expect(res.text).toContain(`portcullis_http_request_duration_seconds_count{route="counted"} ${sent}\n`);
      expect(res.text).toMatch(/^portcullis_config_generation 4$/m);
    }
    for (let i = 0; i < 4; i++) {
      const stats = (await adminCall('GET', '/api/stats')).body?.data;
      expect(stats).toMatchObject({ workers: 2, generation: 4 });
      expect(Number(stats?.requests)).toBeGreaterThanOrEqual(sent);
    }
  });

  it('reports restart-only keys, applies a new admin.token on every worker and never logs it', async () => {
    writeFileSync(
      gw.configFile,
      yaml('v5', { token: NEW_TOKEN, server: ', keep_alive_timeout: 7s' }).replace(
        'port: 0,',
        `port: ${gw.port},`,
      ),
    );
    const res = await adminCall('POST', '/api/reload');
    expect(res.status).toBe(200);
    expect(res.body?.data).toMatchObject({
      generation: 5,
      workers: 2,
      restart_required: ['server.port', 'server.keep_alive_timeout'],
      admin_token_changed: true,
    });
    for (let i = 0; i < ROUNDS; i++) {
      expect((await adminCall('GET', '/api/routes')).body?.code).toBe('invalid_token');
    }
    expect(await generationsSeen(NEW_TOKEN)).toEqual(new Set([5]));
    const warning = await gw.waitForLog((l) => Array.isArray(l.restart_required));
    expect(warning.level).toBe('warn');
    expect(warning.restart_required).toEqual(['server.port', 'server.keep_alive_timeout']);
    await waitFor(
      async () => {
        const audit = await adminCall('GET', '/api/audit?type=admin_reload&limit=1', NEW_TOKEN);
        const [event] = (audit.body?.data?.events ?? []) as Array<Record<string, unknown>>;
        return (event?.details as { generation?: number } | undefined)?.generation === 5;
      },
      5_000,
      'the admin_reload audit event',
    );
    const audit = await adminCall('GET', '/api/audit?type=admin_reload&limit=1', NEW_TOKEN);
    const [event] = (audit.body?.data?.events ?? []) as Array<Record<string, unknown>>;
    expect(event?.details).toEqual({
      ok: true,
      generation: 5,
      restart_required: ['server.port', 'server.keep_alive_timeout'],
      admin_token_changed: true,
    });
    expect(JSON.stringify(gw.logs)).not.toContain(NEW_TOKEN);
    expect(gw.stderr()).not.toContain(NEW_TOKEN);
  });

  it('a worker that does not answer fails the reload for all: none changes config, the log names it', async () => {
    const [stuck] = [...workerPids()] as number[];
    process.kill(stuck!, 'SIGSTOP');
    try {
      writeFileSync(gw.configFile, yaml('v6', { token: NEW_TOKEN }));
      gw.child.kill('SIGHUP');
      const line = await gw.waitForLog(
        (l) => l.msg === 'config reload failed: keeping the current config' && Array.isArray(l.failed),
        10_000,
      );
      expect(line.failed).toEqual([`worker ${stuck}: no answer within 5 s`]);
    } finally {
      process.kill(stuck!, 'SIGCONT');
    }
    // The stopped worker now reads the prepare and then the abort: it stays where its peer is.
    expect(await generationsSeen(NEW_TOKEN)).toEqual(new Set([5]));
    expect(await statuses('/v5/x')).toEqual(new Set([200]));
    expect(await statuses('/v6/x')).toEqual(new Set([404]));
  });

  it('a worker started after the reloads runs the config in force, not generation 1', async () => {
    const [victim] = [...workerPids()] as number[];
    process.kill(victim!, 'SIGKILL');
    await waitFor(() => workerPids().size === 3, 10_000, 'a replacement worker');
    await new Promise((r) => setTimeout(r, 200));
    expect(await generationsSeen(NEW_TOKEN)).toEqual(new Set([5]));
    expect(await statuses('/v5/x')).toEqual(new Set([200]));
  });

  it('SIGHUP to a worker reloads every worker through the primary', async () => {
    const listening = gw.logs.filter((l) => l.msg === 'gateway listening');
    const newest = Number(listening.at(-1)?.pid);
    writeFileSync(gw.configFile, yaml('v7', { token: NEW_TOKEN }));
    process.kill(newest, 'SIGHUP');
    await gw.waitForLog((l) => l.msg === 'config reloaded on every worker' && l.generation === 6, 10_000);
    expect(await generationsSeen(NEW_TOKEN)).toEqual(new Set([6]));
    expect(await statuses('/v7/x')).toEqual(new Set([200]));
  });

  it('a reload that makes a WebSocket route require a token closes the anonymous tunnels on every worker (4401)', async () => {
    const chat = (auth: string) =>
      `  - { name: chat, path: /chat, upstream: "${ws.origin}", auth: ${auth}, websocket: true }`;
    writeFileSync(gw.configFile, yaml('v7', { token: NEW_TOKEN, extraRoute: chat('public') }));
    expect((await adminCall('POST', '/api/reload', NEW_TOKEN)).status).toBe(200);
    const tunnels = [];
    for (let i = 0; i < 6; i++) {
      const c = await openWs(gw.port, `/chat/${i}`);
      c.send(`hello ${i}`);
      expect((await c.reader.next()).payload.toString()).toBe(`hello ${i}`);
      tunnels.push(c);
    }
    writeFileSync(gw.configFile, yaml('v7', { token: NEW_TOKEN, extraRoute: chat('required') }));
    expect((await adminCall('POST', '/api/reload', NEW_TOKEN)).status).toBe(200);
    for (const c of tunnels) {
      const f = await c.reader.next(2_000);
      expect({
        opcode: f.opcode,
        code: f.payload.readUInt16BE(0),
        reason: f.payload.subarray(2).toString(),
      }).toEqual({ opcode: 0x8, code: 4401, reason: 'missing_token' });
      await c.reader.closed;
    }
    // Both workers held some of them, and each logged its tunnels as the 101s they were.
    const lines = () => gw.logs.filter((l) => l.msg === 'request' && l.route === 'chat' && l.status === 101);
    await waitFor(() => lines().length === tunnels.length, 5_000, 'an access line per tunnel');
    expect(new Set(lines().map((l) => l.pid)).size).toBe(2);
  });

  it('SIGTERM stops every worker and the primary exits 0', async () => {
    expect(await gw.stop()).toBe(0);
  });
});
