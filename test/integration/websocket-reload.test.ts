// A reload re-checks the open WebSocket tunnels and event streams: those the new config would not open (the
// route gone, moved, no longer websocket, now requiring a token or a role they lack) are ended at once with
// 4403 forbidden or 4401 missing_token; the others keep relaying. Real gateway, real upstreams.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessClaims } from '../../gateway/auth/tokens.js';
import { startTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from '../support/gateway.js';
import { startTickingStream, type TickingStream } from '../support/upstreams.js';
import { closeFrame, openWs, startWsUpstream, type WsClient, type WsUpstream } from '../support/ws.js';
import { OPEN_LIMITS, registerAndLogin, UA } from './accounts/support.js';
import { rawExchange } from './helpers.js';

let ws: WsUpstream;
let sse: TickingStream;

beforeAll(async () => {
  ws = await startWsUpstream();
  sse = await startTickingStream();
});
afterAll(async () => {
  await ws?.close();
  await sse?.close();
});

type RouteName = 'open' | 'members' | 'feed' | 'inner';

/** The routes, each as a YAML flow mapping; `change` replaces some (null: removes them). */
function config(change: Partial<Record<RouteName, string | null>> = {}): string {
  const routes: Record<RouteName, string | null> = {
    open: `{ name: open, path: /open, upstream: "${ws.origin}", auth: public, websocket: true }`,
    members: `{ name: members, path: /members, upstream: "${ws.origin}", auth: required, websocket: true }`,
    feed: `{ name: feed, path: /feed, upstream: "${sse.origin}", auth: public }`,
    inner: null,
    ...change,
  };
  return `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
routes:
${Object.values(routes)
  .filter((r) => r !== null)
  .map((r) => `  - ${r}`)
  .join('\n')}
`;
}

async function withGateway(run: (gw: TestGateway) => Promise<void>): Promise<void> {
  // A failing test leaves tunnels open: the drain need not wait out the default 30 s for them.
  const gw = await startTestGateway(config(), { base: { server: 'shutdown_timeout: 2s' } });
  try {
    await run(gw);
  } finally {
    await gw.stop();
  }
}

async function reload(gw: TestGateway, yaml: string): Promise<void> {
  gw.setYaml(yaml);
  expect(await gw.reload()).toMatchObject({ ok: true });
}

/** A tunnel through the gateway, checked to relay. */
async function tunnel(gw: TestGateway, path: string, token?: string): Promise<WsClient> {
  const headers: Record<string, string> = { 'user-agent': UA };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const c = await openWs(gw.port, path, headers);
  await expectRelays(c);
  return c;
}

async function expectRelays(c: WsClient): Promise<void> {
  const text = `still relaying ${Math.random()}`;
  c.send(text);
  expect((await c.reader.next(2_000)).payload.toString()).toBe(text);
}

async function expectClosed(c: WsClient, since: number, code: number, reason: string): Promise<void> {
  const closed = await closeFrame(c, since);
  expect({ code: closed.code, reason: closed.reason }).toEqual({ code, reason });
  expect(closed.ms).toBeLessThan(1_000);
  await c.reader.closed;
}

const admin = (gw: TestGateway, method: string, path: string, body?: unknown) =>
  fetch(`${gw.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('a reload re-checks open WebSocket tunnels', () => {
  it('a route that now requires a role the user lacks: the tunnel closes with 4403 forbidden at the reload; the others keep relaying', async () => {
    await withGateway(async (gw) => {
      const { pair } = await registerAndLogin(gw);
      const member = await tunnel(gw, '/members/room', pair.access);
      const anonymous = await tunnel(gw, '/open/room');
      const since = Date.now();
      await reload(
        gw,
        config({
          members: `{ name: members, path: /members, upstream: "${ws.origin}", auth: required, websocket: true, roles: [staff] }`,
        }),
      );
      await expectClosed(member, since, 4403, 'forbidden');
      await expectRelays(anonymous);
      anonymous.socket.destroy();
    });
  });

  it('auth: public → required: an anonymous tunnel closes with 4401 missing_token; an authenticated one stays', async () => {
    await withGateway(async (gw) => {
      const { pair } = await registerAndLogin(gw);
      const anonymous = await tunnel(gw, '/open/room');
      const member = await tunnel(gw, '/open/room', pair.access);
      const since = Date.now();
      await reload(
        gw,
        config({
          open: `{ name: open, path: /open, upstream: "${ws.origin}", auth: required, websocket: true }`,
        }),
      );
      await expectClosed(anonymous, since, 4401, 'missing_token');
      await expectRelays(member);
      member.socket.destroy();
    });
  });

  it.each<[string, string, () => Partial<Record<RouteName, string | null>>]>([
    ['the route is removed', '/open/room', () => ({ open: null })],
    [
      'the route no longer takes WebSockets',
      '/open/room',
      () => ({ open: `{ name: open, path: /open, upstream: "${ws.origin}", auth: public }` }),
    ],
    [
      'the path now belongs to another route',
      '/open/inner/room',
      () => ({
        inner: `{ name: inner, path: /open/inner, upstream: "${ws.origin}", auth: public, websocket: true }`,
      }),
    ],
  ])('%s: the tunnel closes with 4403 forbidden at the reload', async (_what, path, change) => {
    await withGateway(async (gw) => {
      const c = await tunnel(gw, path);
      const other = await tunnel(gw, '/members/room', (await registerAndLogin(gw)).pair.access);
      const since = Date.now();
      await reload(gw, config(change()));
      await expectClosed(c, since, 4403, 'forbidden');
      await expectRelays(other);
      other.socket.destroy();
    });
  });

  it('a reload that leaves a route as it was keeps its tunnels, and so does a reload that fails', async () => {
    await withGateway(async (gw) => {
      const { pair } = await registerAndLogin(gw);
      const member = await tunnel(gw, '/members/room', pair.access);
      const anonymous = await tunnel(gw, '/open/room');
      await reload(
        gw,
        config({
          inner: `{ name: inner, path: /inner, upstream: "${ws.origin}", auth: public, websocket: true }`,
        }),
      );
      gw.setYaml(`${config()}\n  - { name: broken, path: /broken, upstream: "ftp://nowhere" }\n`);
      expect(await gw.reload()).toMatchObject({ ok: false, reason: 'invalid_config' });
      await new Promise((r) => setTimeout(r, 300));
      await expectRelays(member);
      await expectRelays(anonymous);
      member.socket.destroy();
      anonymous.socket.destroy();
    });
  });

  it('live revocation checks the roles the route has now: after a reload adds [staff], losing staff closes the tunnel (4403)', async () => {
    await withGateway(async (gw) => {
      const { id, pair } = await registerAndLogin(gw);
      expect((await admin(gw, 'PUT', `/api/users/${id}/roles`, { roles: ['user', 'staff'] })).status).toBe(
        200,
      );
      const staff = await tunnel(gw, '/members/room', pair.access);
      await reload(
        gw,
        config({
          members: `{ name: members, path: /members, upstream: "${ws.origin}", auth: required, websocket: true, roles: [staff] }`,
        }),
      );
      await expectRelays(staff);
      const since = Date.now();
      expect((await admin(gw, 'PUT', `/api/users/${id}/roles`, { roles: ['user'] })).status).toBe(200);
      await expectClosed(staff, since, 4403, 'forbidden');
    });
  });

  it('an upgrade whose checks ran under the config a reload replaced is judged by the new one: 403, never relayed', async () => {
    await withGateway(async (gw) => {
      const { pair } = await registerAndLogin(gw);
      const tokens = gw.services.tokens;
      const verify = tokens.verifyAccess.bind(tokens);
      // The reload lands while this upgrade's token is being verified (its first use: not cached).
      tokens.verifyAccess = async (token: string): Promise<AccessClaims> => {
        const claims = await verify(token);
        await reload(
          gw,
          config({
            members: `{ name: members, path: /members, upstream: "${ws.origin}", auth: required, websocket: true, roles: [staff] }`,
          }),
        );
        return claims;
      };
      const before = ws.upgrades.length;
      const ex = rawExchange(
        gw.port,
        `GET /members/late HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Authorization: Bearer ${pair.access}\r\nUser-Agent: ${UA}\r\n\r\n`,
      );
      const res = await ex.response;
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'forbidden' });
      expect(ws.upgrades.length).toBe(before);
    });
  });
});

describe('a reload re-checks open event streams', () => {
  it('an anonymous stream on a route switched to auth: required ends at the reload', async () => {
    await withGateway(async (gw) => {
      // Resolves once the stream is flowing, with when it ends.
      const { ended } = await new Promise<{ ended: Promise<number> }>((resolve, reject) => {
        const req = request(`${gw.url}/feed/live`, { headers: { accept: 'text/event-stream' } });
        req.on('response', (res) => {
          expect(res.statusCode).toBe(200);
          res.on('error', () => undefined);
          const closed = new Promise<number>((done) => res.on('close', () => done(Date.now())));
          res.once('data', () => resolve({ ended: closed }));
        });
        req.on('error', reject);
        req.end();
      });
      const since = Date.now();
      await reload(
        gw,
        config({ feed: `{ name: feed, path: /feed, upstream: "${sse.origin}", auth: required }` }),
      );
      const at = await Promise.race([ended, new Promise<number>((r) => setTimeout(() => r(-1), 2_000))]);
      expect(at).toBeGreaterThan(0);
      expect(at - since).toBeLessThan(1_000);
    });
  });
});
