// Losing PostgreSQL connections, a PostgreSQL that stops answering, and a frozen Redis under a running
// gateway process: the process stays up, answers in the envelope and recovers; an admin change the
// state store refused is not half-applied. The gateway reaches PostgreSQL through a TCP relay that can
// be frozen (it holds every byte and closes nothing: a stopped server or a silent network path).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_LOCK, LOCK_NAMESPACE } from '../../../gateway/users/postgres-rows.js';
import { postgresExec } from '../../../gateway/users/postgres-store.js';
import {
  createTestDatabase,
  POSTGRES_ADMIN_URL,
  type TestDatabase,
} from '../../gateway/users/postgres-harness.js';
import { TEST_ADMIN_TOKEN } from '../../support/gateway.js';
import { type FreezableRelay, startFreezableRelay } from '../../support/misbehaving.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import { type ChildGateway, startChildGateway } from '../helpers.js';
import {
  expectFailure,
  loginOk,
  registerOk,
  send,
  sharedStoresYaml,
  sleep,
  writeAssertionKey,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let db: TestDatabase;
let relay: FreezableRelay;
let dir: string;
let gw: ChildGateway;

/** Ends every connection the gateway holds to its database, as a failover or an operator would. */
const terminateGatewayConnections = () =>
  postgresExec(
    POSTGRES_ADMIN_URL,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE datname = $1 AND application_name = 'portcullis' AND pid <> pg_backend_pid()`,
    db.name,
  );

async function admin(
  method: string,
  path: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${gw.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  [redis, upstream, db] = await Promise.all([startRedis(), startRecordingUpstream(), createTestDatabase()]);
  relay = await startFreezableRelay(Number(new URL(POSTGRES_ADMIN_URL).port || 5432));
  const viaRelay = new URL(db.url);
  viaRelay.host = `127.0.0.1:${relay.port}`;
  dir = mkdtempSync(join(tmpdir(), 'pc-pg-faults-'));
  gw = await startChildGateway({
    cwd: dir,
    yaml: sharedStoresYaml({
      users: String(viaRelay),
      state: redis.url,
      key: writeAssertionKey(dir),
      upstream: upstream.origin,
      server: 'shutdown_timeout: 5s',
      tokens: 'refresh_reuse_grace: 1s',
    }),
  });
}, 60_000);

afterAll(async () => {
  relay?.thaw();
  await gw?.stop();
  await relay?.close();
  await Promise.all([redis?.stop(), upstream?.close(), db?.drop()]);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('PostgreSQL connections terminated mid-transaction', () => {
  it('the process survives a connection ended while an audit append holds it, and recovers', async () => {
    const { email } = await registerOk(gw);
    // Hold the audit chain's lock: the next append waits inside its transaction, its connection checked out.
    const holder = new pg.Client({ connectionString: db.url, application_name: 'test-lock-holder' });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, AUDIT_LOCK]);
      const login = loginOk(gw, email); // its login record and event queue behind the lock (1 s at most)
      await sleep(300);
      await terminateGatewayConnections();
      await login;
    } finally {
      await holder.end();
    }
    await sleep(500);
    expect(gw.child.exitCode, gw.stderr()).toBeNull();
    expect(gw.stderr()).not.toContain("Unhandled 'error' event");
    // New connections are opened as needed: the store works again without a restart.
    await registerOk(gw);
  });

  it('repeated terminations during registrations and logins never end the process', async () => {
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const { email } = await registerOk(gw).catch(() => ({ email: '' }));
        if (email !== '') await send(gw, 'POST', '/api/auth/login', { json: { email, password: 'x' } });
      }
    })();
    for (let i = 0; i < 10; i++) {
      await sleep(150);
      await terminateGatewayConnections();
    }
    stop = true;
    await load;
    expect(gw.child.exitCode, gw.stderr()).toBeNull();
    await registerOk(gw);
  });
});

describe('admin changes while Redis is frozen', () => {
  it('a disable the state store refused changes nothing: the user stays active, no session outlives it', async () => {
    const { id, email } = await registerOk(gw);
    const session = await loginOk(gw, email);
    const pid = Number(/process_id:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'server'))![1]);
    process.kill(pid, 'SIGSTOP');
    let refused: { status: number; body: Record<string, unknown> };
    try {
      refused = await admin('POST', `/api/users/${id}/disable`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('state_unavailable');
    await sleep(1_200); // past the store's one-second memory of the failure
    const detail = await admin('GET', `/api/users/${id}`);
    const data = detail.body.data as { user: { is_active: boolean }; sessions: unknown[] };
    // Either the disable took effect everywhere or nowhere: never "disabled" beside a live session.
    if (!data.user.is_active) expect(data.sessions).toHaveLength(0);
    const reply = await send(gw, 'GET', '/api/orders/after-refused-disable', { token: session.access });
    if (!data.user.is_active) expectFailure(reply, 401, 'token_revoked');
    else expect(reply.status).toBe(200);
  });
});

/** Runs `work` while the database takes no connection and the gateway's are ended: the user store fails. */
async function withUserStoreDown<T>(work: () => Promise<T>): Promise<T> {
  await postgresExec(POSTGRES_ADMIN_URL, `ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
  try {
    await terminateGatewayConnections();
    return await work();
  } finally {
    await postgresExec(POSTGRES_ADMIN_URL, `ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
  }
}

describe('the user store unreachable', () => {
  it('a login is 503 users_unavailable in the envelope (not a 500), /readyz says which store, and both recover', async () => {
    const { email } = await registerOk(gw);
    const [reply, ready] = await withUserStoreDown(async () => [
      await send(gw, 'POST', '/api/auth/login', { json: { email, password: 'x' } }),
      await admin('GET', '/readyz'),
    ]);
    expectFailure(reply, 503, 'users_unavailable');
    expect(ready).toEqual({
      status: 503,
      body: { status: 'failed', message: 'not ready: user store', code: 'users_unavailable' },
    });
    await loginOk(gw, email);
    expect((await admin('GET', '/readyz')).status).toBe(200);
  });

  it("an operator can still end a user's sessions (they live in the state store): the token is then refused", async () => {
    const { id, email } = await registerOk(gw);
    const session = await loginOk(gw, email);
    const [listed, revoked] = await withUserStoreDown(async () => [
      await admin('GET', `/api/users/${id}/sessions`),
      await admin('DELETE', `/api/users/${id}/sessions`),
    ]);
    expect(listed.status).toBe(200);
    expect((listed.body.data as { sessions: unknown[] }).sessions).toHaveLength(1);
    expect(revoked.status).toBe(200);
    expect((revoked.body.data as { revoked: unknown[] }).revoked).toHaveLength(1);
    expectFailure(
      await send(gw, 'GET', '/api/orders/after-revoke', { token: session.access }),
      401,
      'token_revoked',
    );
  });
});

describe('refresh while the user store is unreachable', () => {
  it('a refresh the user store failed never turns the retry into refresh_reused', async () => {
    const { email } = await registerOk(gw);
    const session = await loginOk(gw, email);
    const first = await withUserStoreDown(() =>
      send(gw, 'POST', '/api/auth/refresh', { json: { refresh: session.refresh } }),
    );
    expect([200, 503]).toContain(first.status);
    await sleep(1_300); // past refresh_reuse_grace: a spent token presented again would be reuse
    // The client retries with the token it holds: the new one if it got an answer, else the old one.
    const holding = first.status === 200 ? String(first.body!.data!.refresh) : session.refresh;
    const again = await send(gw, 'POST', '/api/auth/refresh', { json: { refresh: holding } });
    expect(again.status, again.text).toBe(200);
  });
});

// The store's bounds (gateway/users/postgres-db.ts): statement_timeout 5 s, and the client gives up
// 1 s after it; a new connection must be ready within 2 s.
const QUERY_BOUND_MS = 6_000;

const timed = async <T>(work: Promise<T>): Promise<[T, number]> => {
  const started = performance.now();
  const result = await work;
  return [result, performance.now() - started];
};

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
      const [ready, readyMs] = await timed(admin('GET', '/readyz'));
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
    expect((await admin('GET', '/readyz')).status).toBe(200);
  }, 30_000);
});
