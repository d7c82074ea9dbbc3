// A PostgreSQL that stops answering without closing anything (a frozen server, a silent network path),
// seen through a TCP relay that holds every byte: the user store fails within its query bound instead
// of holding logins for as long as the freeze lasts, the proxy path never waits on it, /readyz names it,
// and everything recovers once the database answers again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPem } from '../../../gateway/auth/keys.js';
import {
  createTestDatabase,
  POSTGRES_ADMIN_URL,
  type TestDatabase,
} from '../../gateway/users/postgres-harness.js';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../../support/gateway.js';
import { type FreezableRelay, startFreezableRelay } from '../../support/misbehaving.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import { type ChildGateway, startChildGateway } from '../helpers.js';
import {
  expectFailure,
  FAST_ARGON2,
  limitsYaml,
  loginOk,
  registerOk,
  routesYaml,
  send,
  sleep,
} from './support.js';

// The store's bounds (gateway/users/postgres-db.ts): statement_timeout 5 s, and the client gives up
// 1 s after it; a new connection must be ready within 2 s.
const QUERY_BOUND_MS = 6_000;

let redis: RedisServer;
let upstream: RecordingUpstream;
let db: TestDatabase;
let relay: FreezableRelay;
let dir: string;
let gw: ChildGateway;

async function readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${gw.adminPort}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const timed = async <T>(work: Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  const result = await work;
  return [result, performance.now() - started];
};

beforeAll(async () => {
  [redis, upstream, db] = await Promise.all([startRedis(), startRecordingUpstream(), createTestDatabase()]);
  relay = await startFreezableRelay(Number(new URL(POSTGRES_ADMIN_URL).port || 5432));
  const viaRelay = new URL(db.url);
  viaRelay.host = `127.0.0.1:${relay.port}`;
  dir = mkdtempSync(join(tmpdir(), 'pc-pg-frozen-'));
  const key = join(dir, 'assertion.pem');
  writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
  gw = await startChildGateway({
    cwd: dir,
    yaml: `
server: { host: 127.0.0.1, port: 0, shutdown_timeout: 5s }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
storage: { users: "${viaRelay}", state: "${redis.url}" }
identity_headers: { assertion_key_file: "${key}" }
tokens: { secret: "${TEST_SECRET}" }
logging: { level: info }
${FAST_ARGON2}
${limitsYaml()}
${routesYaml(upstream.origin)}`,
  });
}, 60_000);

afterAll(async () => {
  relay?.thaw();
  await gw?.stop();
  await relay?.close();
  await Promise.all([redis?.stop(), upstream?.close(), db?.drop()]);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('PostgreSQL frozen (connections open, nothing answered)', () => {
  it('a login fails with 503 users_unavailable within the query bound, the proxy path and /readyz do not wait, and all recovers', async () => {
    const { email } = await registerOk(gw);
    const session = await loginOk(gw, email);
    relay.freeze();
    let login: Promise<[Awaited<ReturnType<typeof send>>, number]>;
    try {
      login = timed(send(gw, 'POST', '/api/auth/login', { json: { email, password: 'x' } }));
      await sleep(200); // the login is now waiting on the frozen database
      // A request with a valid token needs only the state store (Redis): it never queues behind the user store.
      const [proxied, proxiedMs] = await timed(
        send(gw, 'GET', '/api/orders/while-frozen', { token: session.access }),
      );
      expect(proxied.status, proxied.text).toBe(200);
      expect(proxiedMs).toBeLessThan(1_000);
      const [ready, readyMs] = await timed(readyz());
      expect(ready).toEqual({
        status: 503,
        body: { status: 'failed', message: 'not ready: user store', code: 'users_unavailable' },
      });
      expect(readyMs).toBeLessThan(2_000);
      const [refused, loginMs] = await login;
      expectFailure(refused, 503, 'users_unavailable');
      expect(loginMs).toBeLessThan(QUERY_BOUND_MS + 2_000);
    } finally {
      relay.thaw();
    }
    expect(gw.child.exitCode, gw.stderr()).toBeNull();
    // The connection that timed out is dropped; new ones work without a restart.
    await loginOk(gw, email);
    expect((await readyz()).status).toBe(200);
  }, 30_000);
});
