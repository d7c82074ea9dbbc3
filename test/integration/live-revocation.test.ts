// Live revocation through a real gateway: WebSocket and SSE connections proxied for a session end within
// 1 s of logout, admin revocation, disable, eviction, a lost role, or the access token expiring. The
// close is a proper 4401/4403 close frame, sent between two of the upstream's frames.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from '../support/gateway.js';
import { startTickingStream, type TickingStream } from '../support/upstreams.js';
import { closeFrame, openWs, startWsUpstream, type WsClient, type WsUpstream } from '../support/ws.js';
import { call, OPEN_LIMITS, registerAndLogin, UA } from './accounts/support.js';

let ws: WsUpstream;
let sse: TickingStream;
let gw: TestGateway;

const yaml = (extra = '') => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
${extra}
routes:
  - { name: live, path: /ws, upstream: "${ws.origin}", auth: required, websocket: true }
  - { name: staff, path: /staff, upstream: "${ws.origin}", auth: required, websocket: true, roles: [staff] }
  - { name: events, path: /events, upstream: "${sse.origin}", auth: required }
`;

beforeAll(async () => {
  ws = await startWsUpstream();
  sse = await startTickingStream();
  gw = await startTestGateway(yaml());
});
afterAll(async () => {
  await gw?.stop();
  await ws?.close();
  await sse?.close();
});

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function connect(g: TestGateway, token: string, path = '/ws/chat'): Promise<WsClient> {
  const c = await openWs(g.port, path, { authorization: `Bearer ${token}`, 'user-agent': UA });
  c.send('hello');
  const echo = await c.reader.next();
  expect(echo.payload.toString()).toBe('hello');
  return c;
}

describe('WebSocket connections end with their session', () => {
  const cases: Array<[string, (ctx: { id: string; access: string }) => Promise<unknown>, string]> = [
    ['logout', ({ access }) => call(gw, 'POST', '/api/auth/logout', { token: access }), 'token_revoked'],
    ['admin revokes the sessions', ({ id }) => admin('DELETE', `/api/users/${id}/sessions`), 'token_revoked'],
    ['admin disables the user', ({ id }) => admin('POST', `/api/users/${id}/disable`), 'token_revoked'],
  ];

  it.each(cases)(
    '%s: close frame 4401 within 1 s, then the connection closes',
    async (_what, act, reason) => {
      const { id, pair } = await registerAndLogin(gw);
      const c = await connect(gw, pair.access);
      const since = Date.now();
      const r = (await act({ id, access: pair.access })) as Response | { status: number };
      expect(r.status).toBe(200);
      const closed = await closeFrame(c, since);
      expect({ code: closed.code, reason: closed.reason }).toEqual({ code: 4401, reason });
      expect(closed.ms).toBeLessThan(1_000);
      await c.reader.closed;
    },
  );

  it('a newer login evicts the session: 4401 session_replaced', async () => {
    const { user, pair } = await registerAndLogin(gw);
    const c = await connect(gw, pair.access);
    const since = Date.now();
    expect(
      (await call(gw, 'POST', '/api/auth/login', { json: { email: user.email, password: user.password } }))
        .status,
    ).toBe(200);
    expect(await closeFrame(c, since)).toMatchObject({ code: 4401, reason: 'session_replaced' });
  });

  it('losing the route’s role closes with 4403; the same session’s other connections stay open', async () => {
    const { id, pair } = await registerAndLogin(gw);
    expect((await admin('PUT', `/api/users/${id}/roles`, { roles: ['user', 'staff'] })).status).toBe(200);
    const staff = await connect(gw, pair.access, '/staff/room');
    const plain = await connect(gw, pair.access);
    const since = Date.now();
    expect((await admin('PUT', `/api/users/${id}/roles`, { roles: ['user'] })).status).toBe(200);
    const closed = await closeFrame(staff, since);
    expect({ code: closed.code, reason: closed.reason }).toEqual({ code: 4403, reason: 'forbidden' });
    expect(closed.ms).toBeLessThan(1_000);
    plain.send('still here');
    expect((await plain.reader.next()).payload.toString()).toBe('still here');
    plain.socket.destroy();
  });

  it('revoked mid-frame: the frame in progress is completed first, then the close frame (never a torn frame)', async () => {
    const { pair } = await registerAndLogin(gw);
    const c = await connect(gw, pair.access);
    const partial = new Promise<void>((done) => c.socket.once('data', () => done()));
    c.send('half:3000:400');
    await partial; // the first half is at the client: the upstream is mid-frame
    await call(gw, 'POST', '/api/auth/logout', { token: pair.access });
    const whole = await c.reader.next(2_000);
    expect({ opcode: whole.opcode, bytes: whole.payload.length }).toEqual({ opcode: 0x2, bytes: 3000 });
    const f = await c.reader.next(2_000);
    expect({ opcode: f.opcode, code: f.payload.readUInt16BE(0) }).toEqual({ opcode: 0x8, code: 4401 });
  });

  it('an upstream that never finishes its frame: the connection is cut within the grace period', async () => {
    const { pair } = await registerAndLogin(gw);
    const c = await connect(gw, pair.access);
    const partial = new Promise<void>((done) => c.socket.once('data', () => done()));
    c.send('half:3000:0');
    await partial;
    const since = Date.now();
    await call(gw, 'POST', '/api/auth/logout', { token: pair.access });
    await c.reader.closed;
    expect(Date.now() - since).toBeLessThan(1_600);
  });

  it('after the revocation nothing the client sends reaches the upstream', async () => {
    const { pair } = await registerAndLogin(gw);
    const c = await connect(gw, pair.access);
    await call(gw, 'POST', '/api/auth/logout', { token: pair.access });
    await closeFrame(c, Date.now());
    c.send('too late');
    await new Promise((r) => setTimeout(r, 200));
    expect(ws.received).not.toContain('too late');
  });
});

describe('SSE streams end with their session', () => {
  function stream(token: string): Promise<{ ended: Promise<number>; chunks: () => number }> {
    return new Promise((resolve, reject) => {
      const req = request(`${gw.url}/events/feed`, {
        headers: { authorization: `Bearer ${token}`, 'user-agent': UA, accept: 'text/event-stream' },
      });
      req.on('response', (res) => {
        expect(res.statusCode).toBe(200);
        let count = 0;
        res.on('data', () => count++);
        const ended = new Promise<number>((done) => {
          res.on('close', () => done(Date.now()));
          res.on('error', () => undefined);
        });
        resolve({ ended, chunks: () => count });
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('logout ends the stream within 1 s', async () => {
    const { pair } = await registerAndLogin(gw);
    const s = await stream(pair.access);
    await new Promise((r) => setTimeout(r, 150));
    expect(s.chunks()).toBeGreaterThan(0);
    const since = Date.now();
    await call(gw, 'POST', '/api/auth/logout', { token: pair.access });
    expect((await s.ended) - since).toBeLessThan(1_000);
  });
});

describe('the access token expiring', () => {
  it('closes the WebSocket at the token’s exp (access_ttl: 2s)', async () => {
    const short = await startTestGateway(yaml(), { base: { tokens: 'access_ttl: 2s' } });
    try {
      const { pair } = await registerAndLogin(short);
      const exp = (
        JSON.parse(Buffer.from(pair.access.split('.')[1]!, 'base64url').toString()) as { exp: number }
      ).exp;
      const c = await connect(short, pair.access);
      const closed = await closeFrame(c, exp * 1000);
      expect({ code: closed.code, reason: closed.reason }).toEqual({ code: 4401, reason: 'token_expired' });
      expect(Math.abs(closed.ms)).toBeLessThan(1_000);
    } finally {
      await short.stop();
    }
  });
});
