import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseYaml, startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { call, OPEN_LIMITS, registerAndLogin, UA } from './accounts/support.js';
import { runCli } from './helpers.js';

const ROUTES = (origin: string) => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
routes:
  - { name: orders, path: /api/orders, upstream: "${origin}", auth: required }
`;

function explain(
  configFile: string,
  ...args: string[]
): Promise<{ code: number | null; out: string; err: string }> {
  return runCli('explain', '--config', configFile, ...args);
}

/** A gateway in-process, and its config written to a file for the CLI (same SQLite file, secret, keys). */
async function setup(state?: string): Promise<{ gw: TestGateway; file: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-explain-'));
  const base = state === undefined ? {} : { state };
  const gw = await startTestGateway(ROUTES(upstream.origin), { dir, base });
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, `${baseYaml(dir, base)}\n${ROUTES(upstream.origin)}`);
  return { gw, file, dir };
}

let upstream: RecordingUpstream;
beforeAll(async () => {
  upstream = await startRecordingUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

describe('portcullis explain (memory state)', () => {
  let gw: TestGateway;
  let file: string;
  let dir: string;
  beforeAll(async () => {
    ({ gw, file, dir } = await setup());
  });
  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints every check and allows a valid token from the right device; the session is not checked', async () => {
    const { pair } = await registerAndLogin(gw);
    const before = upstream.requests.length;
    const r = await explain(
      file,
      'GET',
      'http://gw.test/api/orders/1',
      '--token',
      pair.access,
      '--user-agent',
      UA,
    );
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('GET http://gw.test/api/orders/1');
    expect(
      lines.slice(1, -1).map((l) => /^\s+\d+\. (.+?)\s{2,}(pass|fail|skip)\s/.exec(l)?.slice(1)),
    ).toEqual([
      ['path', 'pass'],
      ['host', 'pass'],
      ['route', 'pass'],
      ['authentication', 'pass'],
      ['device binding', 'pass'],
      ['session state', 'skip'],
      ['rate limits', 'skip'],
      ['authorization', 'pass'],
    ]);
    expect(r.out).toContain('not checked: memory state lives in the gateway process');
    expect(r.out).toContain('not consumed');
    expect(lines.at(-1)).toBe(`decision: allow: forwarded to ${upstream.origin} as GET /api/orders/1`);
    expect(upstream.requests.length).toBe(before); // nothing forwarded
  });

  it.each([
    [['GET', 'http://gw.test/api/orders/1'], 'decision: deny: 401 missing_token'],
    [['GET', 'http://gw.test/api/orders/1', '--token', 'a.b.c'], 'decision: deny: 401 invalid_token'],
    [['GET', 'http://gw.test/api/../admin'], 'decision: deny: 400 bad_path'],
    [['GET', 'http://gw.test/elsewhere'], 'decision: deny: 404 route_not_found'],
  ])('%j exits 1: %s', async (args, decision) => {
    const r = await explain(file, ...args);
    expect(r.code).toBe(1);
    expect(r.out.trim().split('\n').at(-1)).toBe(decision);
  });

  it('a token from another device is device_mismatch, and the CLI revokes nothing', async () => {
    const { pair } = await registerAndLogin(gw);
    const r = await explain(
      file,
      'GET',
      'http://gw.test/api/orders/1',
      '--token',
      pair.access,
      '--user-agent',
      'x',
    );
    expect(r.out.trim().split('\n').at(-1)).toBe('decision: deny: 401 device_mismatch');
    expect((await call(gw, 'GET', '/api/orders/1', { token: pair.access })).status).toBe(200);
  });

  it('--json prints the explanation object; a missing URL is a usage error (2)', async () => {
    const r = await explain(file, 'GET', 'http://gw.test/api/orders/1', '--json');
    expect(JSON.parse(r.out)).toMatchObject({
      route: 'orders',
      decision: { allowed: false, code: 'missing_token' },
    });
    expect((await explain(file, 'GET')).code).toBe(2);
  });
});

describe('portcullis explain (Redis state)', () => {
  let redis: RedisServer;
  let gw: TestGateway;
  let file: string;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    ({ gw, file, dir } = await setup(redis.url));
  });
  afterAll(async () => {
    await gw?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the session from the shared store: live, then token_revoked after logout', async () => {
    const { pair } = await registerAndLogin(gw);
    const args = ['GET', 'http://gw.test/api/orders/1', '--token', pair.access, '--user-agent', UA];
    const live = await explain(file, ...args);
    expect(live.code, live.err).toBe(0);
    expect(live.out).toMatch(/session state\s+pass\s+session \S+ is live/);
    expect((await call(gw, 'POST', '/api/auth/logout', { token: pair.access })).status).toBe(200);
    const dead = await explain(file, ...args);
    expect(dead.code).toBe(1);
    expect(dead.out).toMatch(/session state\s+fail\s+token_revoked/);
    expect(dead.out.trim().split('\n').at(-1)).toBe('decision: deny: 401 token_revoked');
  });

  it('exits 2, not 1 ("denied"), when the state store does not answer', async () => {
    const { pair } = await registerAndLogin(gw);
    const args = ['GET', 'http://gw.test/api/orders/1', '--token', pair.access, '--user-agent', UA];
    await redis.kill();
    try {
      const down = await explain(file, ...args);
      expect(down.out.trim().split('\n').at(-1)).toBe('decision: deny: 503 state_unavailable');
      expect(down.code).toBe(2);
    } finally {
      await redis.restart();
    }
  });
});
