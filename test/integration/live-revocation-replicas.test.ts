// Live revocation across replicas: two gateway processes (the built dist) on one Redis. A WebSocket or SSE
// stream held on B ends within 1 s of a logout, admin revocation or newer login on A (Redis pub/sub),
// and a session that vanished without any event is caught by B's periodic check.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../support/gateway.js';
import { type RedisServer, redisCli, startRedis } from '../support/redis.js';
import { openWs, startWsUpstream, type WsClient, type WsUpstream } from '../support/ws.js';
import { call, newUser, OPEN_LIMITS, PASSWORD, UA } from './accounts/support.js';
import { type ChildGateway, CLI, startReplicas } from './helpers.js';

let redis: RedisServer;
let ws: WsUpstream;
let sse: Server;
let dir: string;
let a: ChildGateway;
let b: ChildGateway;

async function login(on: ChildGateway): Promise<{ id: string; access: string; email: string }> {
  const user = newUser();
  const reg = await call(on, 'POST', '/api/auth/register', { json: user });
  expect(reg.status).toBe(201);
  const r = await call(on, 'POST', '/api/auth/login', { json: { email: user.email, password: PASSWORD } });
  expect(r.status).toBe(200);
  return { id: reg.body!.data!.id as string, access: r.body!.data!.access as string, email: user.email };
}

async function connect(on: ChildGateway, token: string): Promise<WsClient> {
  const c = await openWs(on.port, '/ws/chat', { authorization: `Bearer ${token}`, 'user-agent': UA });
  c.send('hello');
  expect((await c.reader.next()).payload.toString()).toBe('hello');
  return c;
}

async function closeFrame(
  c: WsClient,
  timeoutMs = 3_000,
): Promise<{ code: number; reason: string; at: number }> {
  for (;;) {
    const f = await c.reader.next(timeoutMs);
    if (f.opcode === 0x8)
      return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString(), at: Date.now() };
  }
}

describe('live revocation across two gateway processes on one Redis', () => {
  beforeAll(async () => {
    [redis, ws] = await Promise.all([startRedis(), startWsUpstream()]);
    sse = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const tick = setInterval(() => res.write('data: tick\n\n'), 50);
      res.on('close', () => clearInterval(tick));
    });
    await new Promise<void>((done) => sse.listen(0, '127.0.0.1', done));
    const sseOrigin = `http://127.0.0.1:${(sse.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'pc-live-replicas-'));
    const yaml = `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
storage: { users: "sqlite:${join(dir, 'users.db')}", state: "${redis.url}" }
tokens: { secret: "${TEST_SECRET}" }
logging: { level: info }
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
routes:
  - { name: live, path: /ws, upstream: "${ws.origin}", auth: required, websocket: true }
  - { name: events, path: /events, upstream: "${sseOrigin}", auth: required }
`;
    [a, b] = await startReplicas(dir, yaml);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([redis?.stop(), ws?.close()]);
    sse?.closeAllConnections();
    await new Promise<void>((done) => (sse ? sse.close(() => done()) : done()));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('logout on A closes the WebSocket held on B with 4401 in under 1 s (10 rounds)', async () => {
    const times: number[] = [];
    for (let round = 0; round < 10; round++) {
      const s = await login(a);
      const c = await connect(b, s.access);
      const since = Date.now();
      const out = await call(a, 'POST', '/api/auth/logout', { token: s.access });
      expect(out.status).toBe(200);
      const closed = await closeFrame(c);
      expect({ code: closed.code, reason: closed.reason }).toEqual({ code: 4401, reason: 'token_revoked' });
      times.push(closed.at - since);
      await c.reader.closed;
    }
    times.sort((x, y) => x - y);
    console.info(`revoke on A -> close frame on B, ms (logout request included): ${times.join(', ')}`);
    expect(times.at(-1)!).toBeLessThan(1_000);
  });

  it('an admin revocation on A and a newer login on A close B’s connections too', async () => {
    const s = await login(a);
    const first = await connect(b, s.access);
    const since = Date.now();
    const r = await fetch(`http://127.0.0.1:${a.adminPort}/api/users/${s.id}/sessions`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    expect(r.status).toBe(200);
    const byAdmin = await closeFrame(first);
    expect(byAdmin.code).toBe(4401);
    expect(byAdmin.at - since).toBeLessThan(1_000);

    const again = await call(a, 'POST', '/api/auth/login', { json: { email: s.email, password: PASSWORD } });
    const second = await connect(b, again.body!.data!.access as string);
    const evictedAt = Date.now();
    expect(
      (await call(a, 'POST', '/api/auth/login', { json: { email: s.email, password: PASSWORD } })).status,
    ).toBe(200);
    const evicted = await closeFrame(second);
    expect({ code: evicted.code, reason: evicted.reason }).toEqual({
      code: 4401,
      reason: 'session_replaced',
    });
    expect(evicted.at - evictedAt).toBeLessThan(1_000);
  });

  it('`portcullis user disable` run as a third process closes the WebSocket held on B', async () => {
    const s = await login(a);
    const c = await connect(b, s.access);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [CLI, 'user', 'disable', s.id, '--config', join(dir, 'a', 'gateway.yaml')],
        { stdio: 'ignore' },
      );
      child.on('exit', resolve);
    });
    const exitedAt = Date.now();
    expect(code).toBe(0);
    const closed = await closeFrame(c);
    expect({ code: closed.code, reason: closed.reason }).toEqual({ code: 4401, reason: 'token_revoked' });
    // The command published before it exited (not left to B's periodic check, up to 5 s later).
    expect(closed.at - exitedAt).toBeLessThan(1_000);
  });

  it('logout on A ends an SSE stream held on B in under 1 s', async () => {
    const s = await login(a);
    // Wrapped in an object: resolving with the promise itself would wait for the stream to end.
    const stream = await new Promise<{ ended: Promise<number> }>((resolve, reject) => {
      const req = request(`${b.url}/events/feed`, {
        headers: { authorization: `Bearer ${s.access}`, 'user-agent': UA, accept: 'text/event-stream' },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('error', () => undefined);
        expect(res.statusCode).toBe(200);
        resolve({ ended: new Promise<number>((done) => res.on('close', () => done(Date.now()))) });
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 100));
    const since = Date.now();
    await call(a, 'POST', '/api/auth/logout', { token: s.access });
    expect((await stream.ended) - since).toBeLessThan(1_000);
  });

  it('a session deleted behind the gateways’ backs (no event) is caught by B’s periodic check within ~5 s', async () => {
    const s = await login(a);
    const c = await connect(b, s.access);
    const sid = (JSON.parse(Buffer.from(s.access.split('.')[1]!, 'base64url').toString()) as { sid: string })
      .sid;
    expect(await redisCli(redis.port, 'DEL', `pc:{u:${s.id}}:s:${sid}`)).toContain('1');
    const since = Date.now();
    const closed = await closeFrame(c, 7_000);
    expect(closed.code).toBe(4401);
    expect(closed.at - since).toBeLessThan(6_000);
  });
});
