// WebSocket upgrades through the gateway: an echo over a `websocket: true` route, the headers the
// upstream gets, and upgrades the gateway must refuse (route without websocket, h2c). Frames by hand.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import {
  type BlackholeUpstream,
  type RawUpstream,
  startBlackholeUpstream,
  startRawUpstream,
} from '../support/misbehaving.js';
import {
  frame,
  frameReader,
  openWs as openWsClient,
  startWsUpstream,
  type WsUpstream,
} from '../support/ws.js';
import { expectEnvelope, http, rawExchange, waitFor } from './helpers.js';

function upgradeRequest(path: string, extra = '', upgrade = 'websocket'): string {
  const key = randomBytes(16).toString('base64');
  return (
    `GET ${path} HTTP/1.1\r\nHost: ws.test:8080\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${extra}\r\n`
  );
}

/** Sends the upgrade and resolves after the 101 with a frame reader on the rest of the stream. */
function openWs(
  port: number,
  path: string,
  extra = '',
): Promise<{ socket: Socket; head: string; reader: ReturnType<typeof frameReader> }> {
  const ex = rawExchange(port, upgradeRequest(path, extra));
  return new Promise((done, fail) => {
    let buffered = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buffered = Buffer.concat([buffered, c]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      ex.socket.off('data', onData);
      const head = buffered.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) fail(new Error(`no upgrade: ${buffered.toString()}`));
      done({ socket: ex.socket, head, reader: frameReader(ex.socket, buffered.subarray(end + 4)) });
    };
    ex.socket.on('data', onData);
  });
}

let gw: TestGateway;
let ws: WsUpstream;
let deadPort: number;
let silent: RawUpstream;
let denier: RawUpstream;
let blackhole: BlackholeUpstream;

beforeAll(async () => {
  ws = await startWsUpstream();
  silent = await startRawUpstream();
  denier = await startRawUpstream(
    'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nx-upstream: yes\r\n\r\ndenied',
  );
  blackhole = await startBlackholeUpstream();
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((done) => probe.close(() => done()));
  gw = await startTestGateway(`
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
routes:
  - { name: ws-auth, path: /ws/private, upstream: "${ws.origin}", auth: required, websocket: true }
  - { name: ws, path: /ws, upstream: "${ws.origin}", auth: public, websocket: true, strip_prefix: true }
  - { name: plain, path: /plain, upstream: "${ws.origin}", auth: public }
  - { name: ws-dead, path: /wsdead, upstream: "http://127.0.0.1:${deadPort}", auth: public, websocket: true }
  - { name: bhws, path: /bhws, upstream: "${silent.origin}", auth: public, websocket: true, timeout: 1s }
  - { name: ws-hang, path: /wshang, upstream: "${blackhole.origin}", auth: public, websocket: true, timeout: 1s }
  - { name: ws-deny, path: /wsdeny, upstream: "${denier.origin}", auth: public, websocket: true }
`);
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([silent?.close(), denier?.close(), blackhole?.close()]);
  ws?.server.closeAllConnections();
  await ws?.close();
});

describe('WebSocket relay', () => {
  it('echoes text and a 100 KB binary message through a websocket route', async () => {
    const { socket, reader } = await openWs(gw.port, '/ws/chat?room=1');
    socket.write(frame(0x1, Buffer.from('hello through the gateway'), true));
    const text = await reader.next();
    expect(text.opcode).toBe(0x1);
    expect(text.payload.toString()).toBe('hello through the gateway');
    const big = randomBytes(100 * 1024);
    socket.write(frame(0x2, big, true));
    const binary = await reader.next();
    expect(binary.opcode).toBe(0x2);
    expect(binary.payload.equals(big)).toBe(true);
    socket.write(frame(0x8, Buffer.from([0x03, 0xe8]), true));
    expect((await reader.next()).opcode).toBe(0x8);
    expect(ws.upgrades.at(-1)?.url).toBe('/chat?room=1');
    socket.destroy();
    await waitFor(() => gw.inFlight() === 0, 3_000, 'the relayed connection to be released');
  });

  it('a client that leaves without a closing handshake releases the tunnel', async () => {
    // The echo upstream keeps half-open sockets (Node's default for servers) and ignores the FIN.
    const { socket, reader } = await openWs(gw.port, '/ws/leave');
    socket.write(frame(0x1, Buffer.from('bye'), true));
    expect((await reader.next()).payload.toString()).toBe('bye');
    expect(gw.inFlight()).toBe(1);
    socket.end();
    await waitFor(() => gw.inFlight() === 0, 3_000, 'the relayed connection to be released');
    socket.destroy();
  });

  it('the upstream gets our forwarded and request-id headers, never the client identity headers', async () => {
    const { socket } = await openWs(
      gw.port,
      '/ws/who',
      'X-User-Id: admin\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.test\r\nX_User_Email: a@evil.test\r\nX-Request-Id: ws-trace.1\r\n',
    );
    const seen = ws.upgrades.at(-1)!.headers;
    socket.destroy();
    await waitFor(() => gw.inFlight() === 0, 3_000, 'the relayed connection to be released');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-host']).toBe('ws.test:8080');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-request-id']).toBe('ws-trace.1');
    expect(seen['x-user-id']).toBeUndefined();
    expect(Object.keys(seen).filter((h) => h.replaceAll('_', '-') === 'x-user-email')).toEqual([]);
    expect(seen.upgrade).toBe('websocket');
  });

  it('an upgrade on an auth route is checked like any request, and carries our identity headers', async () => {
    const json = (body: unknown) => ({
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'user-agent': 'ws-client/1' },
    });
    const email = 'ws-user@example.com';
    const password = 'correct-horse-battery-staple-91';
    const registered = await http(
      `${gw.url}/api/auth/register`,
      json({ email, password, password_confirm: password, first_name: 'Web', last_name: 'Socket' }),
    );
    expect(registered.status).toBe(201);
    const login = await http(`${gw.url}/api/auth/login`, json({ email, password }));
    expect(login.status).toBe(200);
    const access = (JSON.parse(login.body.toString()) as { data: { access: string } }).data.access;
    const me = await http(`${gw.url}/api/users/me`, {
      headers: { authorization: `Bearer ${access}`, 'user-agent': 'ws-client/1' },
    });
    const userId = (JSON.parse(me.body.toString()) as { data: { id: string } }).data.id;

    const before = ws.upgrades.length;
    const anonymous = rawExchange(gw.port, upgradeRequest('/ws/private/feed', 'X-User-Id: forged\r\n'));
    expectEnvelope(await anonymous.response, 401, 'missing_token');
    expect(ws.upgrades.length).toBe(before);

    const { socket } = await openWs(
      gw.port,
      '/ws/private/feed',
      `Authorization: Bearer ${access}\r\nUser-Agent: ws-client/1\r\nX-User-Id: forged\r\nx_user_id: forged\r\n`,
    );
    const seen = ws.upgrades.at(-1)!.headers;
    socket.destroy();
    expect(seen['x-user-id']).toBe(userId);
    expect(seen['x-user-email']).toBe(email);
    expect(seen.authorization).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain('forged');
  });

  it('an upgrade on a route without websocket: true is 400 bad_request and never forwarded', async () => {
    const before = { upgrades: ws.upgrades.length, requests: ws.requests.length };
    const ex = rawExchange(gw.port, upgradeRequest('/plain/socket'));
    expectEnvelope(await ex.response, 400, 'bad_request');
    expect(await ex.closed()).toBe(true);
    expect(ws.upgrades.length).toBe(before.upgrades);
    expect(ws.requests.length).toBe(before.requests);
  });

  it.each(['/ws/h2', '/plain/h2'])('Upgrade: h2c on %s is 400 bad_request', async (path) => {
    const before = ws.upgrades.length + ws.requests.length;
    const ex = rawExchange(
      gw.port,
      `GET ${path} HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
    );
    expectEnvelope(await ex.response, 400, 'bad_request');
    expect(await ex.closed()).toBe(true);
    expect(ws.upgrades.length + ws.requests.length).toBe(before);
  });

  it('an upgrade to no route is 404 route_not_found in the envelope', async () => {
    const ex = rawExchange(gw.port, upgradeRequest('/nowhere'));
    expectEnvelope(await ex.response, 404, 'route_not_found');
  });

  it('the 101 carries our X-Request-Id and RateLimit headers', async () => {
    const { socket, head } = await openWs(gw.port, '/ws/ids', 'X-Request-Id: ws-trace.101\r\n');
    socket.destroy();
    const lines = head.toLowerCase().split('\r\n');
    expect(lines).toContain('x-request-id: ws-trace.101');
    expect(lines.filter((l) => l.startsWith('ratelimit-limit: '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('ratelimit-remaining: '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('ratelimit-reset: '))).toHaveLength(1);
    expect(lines).toContain('upgrade: websocket');
    await waitFor(() => gw.inFlight() === 0, 3_000, 'the relayed connection to be released');
  });

  it("an upstream's refusal of the handshake reaches the client with our headers and no Connection: Upgrade", async () => {
    const ex = rawExchange(gw.port, upgradeRequest('/wsdeny/x', 'X-Request-Id: ws-denied.1\r\n'));
    const res = await ex.response;
    expect(res.status).toBe(403);
    expect(res.body.toString()).toBe('denied');
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['x-request-id']).toBe('ws-denied.1');
    expect(res.headers['ratelimit-limit']).toMatch(/^\d+$/);
    expect(res.headers['ratelimit-remaining']).toMatch(/^\d+$/);
    expect(res.headers['ratelimit-reset']).toMatch(/^\d+$/);
    // The client's Connection: Upgrade is not the answer's; the gateway closes after it.
    expect(res.headers.connection?.toLowerCase()).not.toContain('upgrade');
    expect(res.headers.upgrade).toBeUndefined();
    expect(await ex.closed()).toBe(true);
    await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
  });

  it.each([
    ['a POST', (r: string) => r.replace(/^GET/, 'POST')],
    ['a PUT', (r: string) => r.replace(/^GET/, 'PUT')],
    ['an HTTP/1.0 GET', (r: string) => r.replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n')],
  ])(
    '%s with Upgrade: websocket is 400 bad_request (handshakes are HTTP/1.1 GETs), never forwarded',
    async (_name, edit) => {
      const before = ws.upgrades.length + ws.requests.length;
      const ex = rawExchange(gw.port, edit(upgradeRequest('/ws/post', 'Content-Length: 0\r\n')));
      expectEnvelope(await ex.response, 400, 'bad_request');
      expect(await ex.closed()).toBe(true);
      expect(ws.upgrades.length + ws.requests.length).toBe(before);
    },
  );

  it('an upstream that accepts and never answers the handshake: 504 upstream_timeout at the route timeout, both sockets closed', async () => {
    const started = performance.now();
    const ex = rawExchange(gw.port, upgradeRequest('/bhws/x'));
    expectEnvelope(await ex.response, 504, 'upstream_timeout');
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThan(900);
    expect(ms).toBeLessThan(2_500);
    expect(await ex.closed()).toBe(true);
    expect(silent.sockets.length).toBeGreaterThan(0);
    await waitFor(() => silent.closed() === silent.sockets.length, 3_000, 'the upstream socket to close');
    await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
  }, 10_000);

  it('an upgrade whose connect to the upstream hangs: 504 upstream_timeout at the route timeout', async (ctx) => {
    ctx.skip(!blackhole.hangs, 'the kernel here completes or refuses connects to a full listener');
    const started = performance.now();
    const ex = rawExchange(gw.port, upgradeRequest('/wshang/x'));
    expectEnvelope(await ex.response, 504, 'upstream_timeout');
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThan(900);
    expect(ms).toBeLessThan(2_500);
    expect(await ex.closed()).toBe(true);
    await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
  }, 10_000);

  it('an unreachable websocket upstream is 502 upstream_unavailable', async () => {
    const ex = rawExchange(gw.port, upgradeRequest('/wsdead/x'));
    expectEnvelope(await ex.response, 502, 'upstream_unavailable');
    expect(await ex.closed()).toBe(true);
    await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
  });
});

describe('a tunnel that ends on one side is released on the other', () => {
  it.each([
    ['closes', (s: Socket) => s.destroy()],
    ['half-closes', (s: Socket) => s.end()],
    ['resets', (s: Socket) => s.resetAndDestroy()],
  ])(
    'a client that %s an open tunnel: the gateway drops its upstream connection within 1 s, though the upstream ignores the FIN',
    async (how, leave) => {
      const path = `/ws/leave-${how}`;
      const { socket, reader } = await openWs(gw.port, path);
      // The upstream keeps writing: once the gateway has really let go of the connection, a write is reset.
      socket.write(frame(0x1, Buffer.from('tick:50'), true));
      expect((await reader.next()).payload.toString()).toBe('tick');
      const upstream = ws.upgrades.find((u) => u.url === path.slice('/ws'.length))!.socket;
      const left = performance.now();
      leave(socket);
      await waitFor(() => upstream.destroyed, 3_000, "the gateway's upstream connection to be dropped");
      expect(performance.now() - left).toBeLessThan(2_000);
      await waitFor(() => gw.inFlight() === 0, 3_000, 'the relayed connection to be released');
    },
  );

  it('an upstream that ends the tunnel: the gateway drops the client connection within 1 s, though the client ignores the FIN', async () => {
    const c = await openWsClient(gw.port, '/ws/bye', {}, { allowHalfOpen: true });
    c.send('hello');
    expect((await c.reader.next()).payload.toString()).toBe('hello');
    expect(gw.inFlight()).toBe(1);
    c.send('server-close');
    expect((await c.reader.next()).opcode).toBe(0x8);
    const ended = performance.now();
    await waitFor(() => gw.inFlight() === 0, 3_000, 'the gateway to release the client connection');
    expect(performance.now() - ended).toBeLessThan(2_000);
    c.socket.destroy();
  });
});

describe('WebSocket answers in the access log and the metrics', () => {
  /** portcullis_http_requests_total for `route` and `status` (0 when the series does not exist). */
  async function counted(route: string, status: number): Promise<number> {
    const text = (await http(`${gw.adminUrl}/metrics`)).body.toString();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`portcullis_http_requests_total{route="${route}",status="${status}"} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  }

  const accessLine = (reqId: string) => gw.logs.find((l) => l.msg === 'request' && l.reqId === reqId);

  it.each([
    {
      what: 'a relayed 101',
      route: 'ws',
      status: 101,
      run: async (reqId: string) => {
        const { socket } = await openWs(gw.port, '/ws/status', `X-Request-Id: ${reqId}\r\n`);
        socket.destroy();
      },
    },
    {
      what: "the upstream's refusal",
      route: 'ws-deny',
      status: 403,
      run: async (reqId: string) => {
        const ex = rawExchange(gw.port, upgradeRequest('/wsdeny/status', `X-Request-Id: ${reqId}\r\n`));
        expect((await ex.response).status).toBe(403);
      },
    },
    {
      what: "the gateway's own answer (502)",
      route: 'ws-dead',
      status: 502,
      run: async (reqId: string) => {
        const ex = rawExchange(gw.port, upgradeRequest('/wsdead/status', `X-Request-Id: ${reqId}\r\n`));
        expect((await ex.response).status).toBe(502);
      },
    },
  ])(
    '$what: its status in the access line and in the metrics, not aborted',
    async ({ route, status, run }) => {
      const reqId = `ws-status.${status}`;
      const before = {
        status: await counted(route, status),
        other: await counted(route, status === 101 ? 0 : 101),
      };
      await run(reqId);
      await waitFor(() => accessLine(reqId) !== undefined, 3_000, 'the access line');
      expect(accessLine(reqId)).toMatchObject({ route, status });
      expect(accessLine(reqId)).not.toHaveProperty('aborted');
      expect(await counted(route, status)).toBe(before.status + 1);
      expect(await counted(route, status === 101 ? 0 : 101)).toBe(before.other);
    },
  );

  it('a client that leaves before any answer: aborted without a status in the access line, status 0 in the metrics', async () => {
    const before = { left: await counted('bhws', 0), relayed: await counted('bhws', 101) };
    const waiting = silent.sockets.length;
    const ex = rawExchange(gw.port, upgradeRequest('/bhws/left', 'X-Request-Id: ws-status.left\r\n'));
    await waitFor(() => silent.sockets.length > waiting, 3_000, 'the handshake to reach the upstream');
    ex.socket.destroy();
    await waitFor(() => accessLine('ws-status.left') !== undefined, 3_000, 'the access line');
    const line = accessLine('ws-status.left')!;
    expect(line).toMatchObject({ route: 'bhws', aborted: true });
    expect(line).not.toHaveProperty('status');
    expect(await counted('bhws', 0)).toBe(before.left + 1);
    expect(await counted('bhws', 101)).toBe(before.relayed);
  });
});

describe('WebSocket relay loaded on demand', () => {
  it('a gateway started without websocket routes relays once a reload adds one', async () => {
    // The relay (http-proxy-3) is loaded only for configs with websocket routes: a reload that adds
    // the first one must still get a working relay, on the very first upgrade.
    const plain = `
routes:
  - { name: plain, path: /plain, upstream: "${ws.origin}", auth: public }
`;
    const lazy = await startTestGateway(plain);
    try {
      lazy.setYaml(
        `${plain}  - { name: ws, path: /ws, upstream: "${ws.origin}", auth: public, websocket: true, strip_prefix: true }\n`,
      );
      expect(await lazy.reload()).toMatchObject({ ok: true });
      const { socket, reader } = await openWs(lazy.port, '/ws/late');
      socket.write(frame(0x1, Buffer.from('relayed after reload'), true));
      expect((await reader.next()).payload.toString()).toBe('relayed after reload');
      expect(ws.upgrades.at(-1)?.url).toBe('/late');
      socket.destroy();
    } finally {
      await lazy.stop();
    }
  });
});
