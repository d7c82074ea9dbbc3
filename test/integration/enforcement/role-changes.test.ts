// Role changes against two replicas on one PostgreSQL and one Redis: whatever the interleaving (two
// admin calls racing, a push that times out and runs later), the live sessions end with the roles the
// user store holds, checked by requests to a route that requires a role; a refresh repairs a session
// whose roles differ. Real child gateways (dist/), a real redis-server stalled by a busy script.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { redisKeys } from '../../../gateway/state/redis-codec.js';
import { createTestDatabase, type TestDatabase } from '../../gateway/users/postgres-harness.js';
import { TEST_ADMIN_TOKEN } from '../../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import { type ChildGateway, startReplicas } from '../helpers.js';
import {
  loginOk,
  PASSWORD,
  type Reply,
  registerOk,
  type Session,
  send,
  sharedStoresYaml,
  sleep,
  writeAssertionKey,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let db: TestDatabase;
let dir: string;
let a: ChildGateway;
let b: ChildGateway;

beforeAll(async () => {
  [redis, upstream, db] = await Promise.all([startRedis(), startRecordingUpstream(), createTestDatabase()]);
  dir = mkdtempSync(join(tmpdir(), 'pc-role-changes-'));
  [a, b] = await startReplicas(
    dir,
    sharedStoresYaml({
      users: db.url,
      state: redis.url,
      key: writeAssertionKey(dir),
      upstream: upstream.origin,
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([redis?.stop(), upstream?.close(), db?.drop()]);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function adminCall(gw: ChildGateway, method: string, path: string, json?: unknown): Promise<Reply> {
  return send({ url: `http://127.0.0.1:${gw.adminPort}` }, method, path, {
    token: TEST_ADMIN_TOKEN,
    ...(json === undefined ? {} : { json }),
  });
}

const setRoles = (gw: ChildGateway, id: string, roles: string[]) =>
  adminCall(gw, 'PUT', `/api/users/${id}/roles`, { roles });

async function storedRoles(id: string): Promise<string[]> {
  const res = await adminCall(a, 'GET', `/api/users/${id}`);
  expect(res.status, res.text).toBe(200);
  return (res.body!.data!.user as { roles: string[] }).roles;
}

/** Whether the session's token passes the `roles: [admin]` route, on each replica. */
async function adminRouteOn(s: Session): Promise<number[]> {
  return Promise.all(
    [a, b].map(async (gw) => (await send(gw, 'GET', '/api/admin/x', { token: s.access })).status),
  );
}

/**
 * Stalls the test's redis-server for `ms` with a busy script on a connection of its own: commands sent
 * meanwhile wait (a busy script is answered with BUSY only after 5 s) and run once it ends.
 */
async function stallRedis(ms: number): Promise<Socket> {
  const sock = connect(redis.port, '127.0.0.1');
  sock.on('data', () => {});
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  const lua = `local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2]
while true do local t = redis.call('TIME') if t[1] * 1000000 + t[2] - t0 > ${ms * 1000} then break end end
return 1`;
  sock.write(`*3\r\n$4\r\nEVAL\r\n$${Buffer.byteLength(lua)}\r\n${lua}\r\n$1\r\n0\r\n`);
  return sock;
}

describe('role changes reach the live sessions as the user store holds them', () => {
  it('a role change racing another ends with the sessions holding the stored roles', async () => {
    const user = await registerOk(a);
    const s = await loginOk(b, user.email, PASSWORD);
    const diverged: string[] = [];
    for (let round = 0; round < 40; round++) {
      // Grant on one replica, revoke on the other, at once; which one goes first alternates.
      const [first, second] = round % 2 === 0 ? [a, b] : [b, a];
      const replies = await Promise.all([
        setRoles(first, user.id, ['user', 'admin']),
        setRoles(second, user.id, ['user']),
      ]);
      for (const r of replies) expect(r.status, r.text).toBe(200);
      const stored = await storedRoles(user.id);
      const expected = stored.includes('admin') ? 200 : 403;
      const seen = await adminRouteOn(s);
      if (seen.some((status) => status !== expected)) {
        diverged.push(`round ${round}: stored ${JSON.stringify(stored)}, /api/admin answered ${seen}`);
      }
    }
    expect(diverged).toEqual([]);
  }, 60_000);

  it('a role change whose push times out, and runs later, leaves the sessions with the stored roles', async () => {
    const user = await registerOk(a);
    const s = await loginOk(a, user.email, PASSWORD);
    // The stall must begin after the request's own Redis commands (the admin token's limiter) and before
    // its push: the test holds the user's row, so the request waits in its UPDATE meanwhile.
    const [holder, watcher] = [new pg.Client(db.url), new pg.Client(db.url)];
    await Promise.all([holder.connect(), watcher.connect()]);
    let stall: Socket | null = null;
    let started = 0;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [user.id]);
      const pending = setRoles(a, user.id, ['user', 'admin']);
      await vi.waitFor(
        async () => {
          const { rows } = await watcher.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE users%'`,
          );
          expect(rows[0]?.n).toBe(1);
        },
        { timeout: 5000, interval: 20 },
      );
      stall = await stallRedis(1500);
      started = Date.now();
      await holder.query('COMMIT');
      // The grant is written to PostgreSQL, its push waits behind the busy script past the 1 s timeout:
      // 503, and the push runs once the script ends.
      const res = await pending;
      expect(res.status, res.text).toBe(503);
      expect(res.body?.code).toBe('state_unavailable');
    } finally {
      stall?.end();
      await Promise.all([holder.end(), watcher.end()]);
    }
    // The stall is over and the state store's pause after a timeout too.
    await sleep(Math.max(0, started + 3000 - Date.now()));
    expect(await storedRoles(user.id)).toEqual(['user']);
    expect(await adminRouteOn(s)).toEqual([403, 403]);
  }, 30_000);

  it('a refresh gives a session whose roles differ from the stored ones the stored roles', async () => {
    const user = await registerOk(a);
    const s = await loginOk(a, user.email, PASSWORD);
    const sid = (
      (await adminCall(a, 'GET', `/api/users/${user.id}`)).body!.data!.sessions as { sid: string }[]
    )[0]!.sid;
    // A session record that says more than the user store, however it came to: admin answers 200.
    await redisCli(redis.port, 'HSET', redisKeys.session(user.id, sid), 'roles', '["user","admin"]');
    expect(await adminRouteOn(s)).toEqual([200, 200]);

    const refreshed = await send(b, 'POST', '/api/auth/refresh', { json: { refresh: s.refresh } });
    expect(refreshed.status, refreshed.text).toBe(200);
    const next = refreshed.body!.data as unknown as Session;
    const claims = JSON.parse(Buffer.from(next.access.split('.')[1]!, 'base64url').toString()) as {
      roles: string[];
    };
    expect(claims.roles).toEqual(['user']);
    // The session record itself was repaired: the token issued before the refresh is refused too.
    expect(await adminRouteOn(next)).toEqual([403, 403]);
    expect(await adminRouteOn(s)).toEqual([403, 403]);
  });
});
