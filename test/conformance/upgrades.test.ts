// Protocol upgrades as raw bytes: WebSocket to a route without `websocket: true`, h2c upgrade smuggling
// (Upgrade: h2c + HTTP2-Settings), upgrades without or with a bad token, on the gateway's own endpoints
// and with a request hidden after the head. Checked at the client and at an upstream that records upgrades.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forge, hmacSigner } from '../gateway/auth/tokens-forge.js';
import { registerAndLogin } from '../integration/accounts/support.js';
import {
  converse,
  expectRawEnvelope,
  head,
  startGateway,
  type TestGateway,
  UA,
  uniq,
  valuesOf,
} from './support.js';

interface Seen {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly upgrade: boolean;
}

let upstream: Server;
let origin: string;
const seen: Seen[] = [];
let gw: TestGateway;
let token: string;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, upgrade: false });
      res.end('{}');
    });
  });
  upstream.on('upgrade', (req, socket: Duplex) => {
    seen.push({ url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, upgrade: true });
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
  origin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  gw = await startGateway(`
routes:
  - { name: plain, path: /plain, upstream: "${origin}", auth: public }
  - { name: ws, path: /ws, upstream: "${origin}", auth: public, websocket: true }
  - { name: wsauth, path: /wsauth, upstream: "${origin}", auth: required, websocket: true }
`);
  token = (await registerAndLogin(gw)).pair.access;
});

afterAll(async () => {
  await gw?.stop();
  upstream?.closeAllConnections();
  await new Promise<void>((done) => (upstream ? upstream.close(() => done()) : done()));
});

const WS = [
  'Connection: Upgrade',
  'Upgrade: websocket',
  'Sec-WebSocket-Version: 13',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
];
const H2C = [
  'Connection: Upgrade, HTTP2-Settings',
  'Upgrade: h2c',
  'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
];

async function upgrade(method: string, path: string, lines: readonly string[], tail = '') {
  const mark = seen.length;
  const conv = await converse(gw.port, `${head(method, path, [`User-Agent: ${UA}`, ...lines])}${tail}`, {
    waitMs: 1_500,
  });
  return { conv, seen: seen.slice(mark) };
}

describe('upgrades the gateway refuses', () => {
  it.each<[string, string, string, string[], [number, string]]>([
    ['WebSocket on a route without websocket: true', 'GET', '/plain/x', WS, [400, 'bad_request']],
    ['h2c on a route without websocket: true', 'GET', '/plain/x', H2C, [400, 'bad_request']],
    ['h2c on a websocket route', 'GET', '/ws/x', H2C, [400, 'bad_request']],
    [
      'h2c with a POST body on a websocket route',
      'POST',
      '/ws/x',
      [...H2C, 'Content-Length: 0'],
      [400, 'bad_request'],
    ],
    [
      'Upgrade: websocket, h2c',
      'GET',
      '/ws/x',
      ['Connection: Upgrade', 'Upgrade: websocket, h2c'],
      [400, 'bad_request'],
    ],
    [
      'Upgrade: h2c, websocket',
      'GET',
      '/ws/x',
      ['Connection: Upgrade', 'Upgrade: h2c, websocket'],
      [400, 'bad_request'],
    ],
    ['Upgrade: TLS/1.2', 'GET', '/ws/x', ['Connection: Upgrade', 'Upgrade: TLS/1.2'], [400, 'bad_request']],
    ['WebSocket without a token on a required route', 'GET', '/wsauth/x', WS, [401, 'missing_token']],
    [
      'WebSocket with a forged token on a required route',
      'GET',
      '/wsauth/x',
      [
        ...WS,
        `Authorization: Bearer ${forge({ alg: 'HS256', typ: 'at+jwt' }, { sub: 'x' }, hmacSigner('wrong'))}`,
      ],
      [401, 'invalid_token'],
    ],
    ['WebSocket on the profile endpoint', 'GET', '/api/users/me', WS, [400, 'bad_request']],
    ['WebSocket on the login endpoint', 'POST', '/api/auth/login', WS, [400, 'bad_request']],
    ['WebSocket on the JWKS endpoint', 'GET', '/.well-known/jwks.json', WS, [400, 'bad_request']],
    ['WebSocket with a dot segment', 'GET', '/ws/../plain', WS, [400, 'bad_path']],
    ['WebSocket to no route', 'GET', '/nowhere', WS, [404, 'route_not_found']],
  ])(
    '%s (%s %s) → refused, closed, nothing reaches the upstream',
    async (_n, method, path, lines, [status, code]) => {
      const res = await upgrade(method, path, lines);
      expectRawEnvelope(res.conv.responses[0], status, code);
      expect(res.conv.closed).toBe(true);
      expect(res.seen).toEqual([]);
    },
  );

  it('WebSocket with a valid token on the profile endpoint → 400 bad_request, not a profile over a raw socket', async () => {
    const res = await upgrade('GET', '/api/users/me', [...WS, `Authorization: Bearer ${token}`]);
    expectRawEnvelope(res.conv.responses[0], 400, 'bad_request');
    expect(res.conv.closed).toBe(true);
  });

  it.each<[string, string[]]>([
    ['a refused WebSocket upgrade', WS],
    ['a refused h2c upgrade', H2C],
  ])('a request hidden after %s is never read', async (_n, lines) => {
    const id = uniq('SMUGGLED');
    const res = await upgrade('GET', '/plain/x', lines, `GET /plain/${id} HTTP/1.1\r\nHost: gw.test\r\n\r\n`);
    expect(res.conv.responses.map((r) => r.status)).toEqual([400]);
    expect(res.seen).toEqual([]);
  });
});

describe('Upgrade headers without Connection: upgrade are plain requests', () => {
  it.each<[string, string[]]>([
    [
      'Upgrade: h2c and HTTP2-Settings, no Connection token',
      ['Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'],
    ],
    ['Upgrade: websocket, no Connection token', ['Upgrade: websocket']],
    [
      'Connection: HTTP2-Settings only',
      ['Connection: HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABk'],
    ],
  ])('%s → forwarded once, without Upgrade or HTTP2-Settings', async (_n, lines) => {
    const res = await upgrade(
      'GET',
      '/plain/noup',
      [...lines, 'Connection: close'].filter((l, i, a) => a.indexOf(l) === i),
    );
    expect(res.conv.responses[0]?.status).toBe(200);
    expect(res.seen).toHaveLength(1);
    expect(res.seen[0]!.upgrade).toBe(false);
    for (const name of ['upgrade', 'http2-settings'])
      expect(valuesOf(res.seen[0]! as never, name)).toEqual([]);
  });
});

describe('controls: allowed upgrades pass, with our headers only', () => {
  it('WebSocket (any case) on a websocket route → 101, the forged identity header stripped', async () => {
    const res = await upgrade('GET', '/ws/chat?room=1', [
      'Connection: Upgrade',
      'Upgrade: WebSocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'X-User-Id: forged',
    ]);
    expect(res.conv.responses[0]?.status).toBe(101);
    expect(res.seen.map((s) => [s.url, s.upgrade])).toEqual([['/ws/chat?room=1', true]]);
    expect(res.seen[0]!.headers['x-user-id']).toBeUndefined();
  });

  it('WebSocket with a valid token on a required route → 101, our X-User-Id, no Authorization', async () => {
    const res = await upgrade('GET', '/wsauth/feed', [...WS, `Authorization: Bearer ${token}`]);
    expect(res.conv.responses[0]?.status).toBe(101);
    expect(res.seen).toHaveLength(1);
    expect(res.seen[0]!.headers['x-user-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(res.seen[0]!.headers.authorization).toBeUndefined();
  });
});
