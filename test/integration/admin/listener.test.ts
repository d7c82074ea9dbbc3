// The admin listener at the HTTP level, over raw sockets: what Node's parser refuses, a missing or
// repeated Host and a slow head are answered in the envelope and the connection closed, as on the main port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN } from '../../support/gateway.js';
import { timed } from '../../support/timed.js';
import { expectEnvelope, rawExchange, waitFor } from '../helpers.js';
import { type AdminFixture, admin, startAdminFixture } from './support.js';

let fx: AdminFixture;

beforeAll(async () => {
  fx = await startAdminFixture();
});
afterAll(() => fx.close());

async function stillServing(): Promise<void> {
  expect((await admin(fx.gw, 'GET', '/healthz', { token: null })).status).toBe(200);
}

describe('HTTP-level garbage is answered in the envelope, then the connection is closed', () => {
  it.each([
    [
      'a 17 KB header',
      `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    [
      'a header name with a space',
      'GET /healthz HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n',
      400,
      'bad_request',
    ],
    [
      'a NUL in a header value',
      'GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b\r\n\r\n',
      400,
      'bad_request',
    ],
    ['an invalid method token', 'G(T /healthz HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_request'],
    ['an unknown HTTP version', 'GET /healthz HTTP/7.1\r\nHost: a\r\n\r\n', 400, 'bad_request'],
    ['no Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400, 'bad_request'],
    ['no Host on an API call', 'GET /api/stats HTTP/1.1\r\n\r\n', 400, 'bad_request'],
    ['two Host headers', 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'bad_request'],
    [
      'a bad chunk size',
      'POST /api/reload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      400,
      'bad_request',
    ],
  ])('%s', async (_what, request, status, code) => {
    const ex = rawExchange(fx.gw.adminPort, request);
    expectEnvelope(await ex.response, status, code);
    expect(await ex.closed()).toBe(true);
    await stillServing();
  });

  it('a Host-less API call is logged like any other refused one', async () => {
    const ex = rawExchange(fx.gw.adminPort, 'DELETE /api/users/hostless HTTP/1.1\r\n\r\n');
    expectEnvelope(await ex.response, 400, 'bad_request');
    expect(await ex.closed()).toBe(true);
    const line = () => fx.gw.logs.find((l) => l.msg === 'admin request' && l.path === '/api/users/hostless');
    await waitFor(() => line() !== undefined, 2_000, 'the log line');
    expect(line()).toMatchObject({ method: 'DELETE', status: 400, code: 'bad_request' });
  });
});

describe('SECURITY: DNS rebinding — only IP literals, localhost and admin.allowed_hosts are answered', () => {
  const ask = async (host: string, path: string, token?: string) => {
    const auth = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`;
    const ex = rawExchange(
      fx.gw.adminPort,
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${auth}Connection: close\r\n\r\n`,
    );
    return ex.response;
  };

  it.each(['/metrics', '/', '/healthz', '/api/stats'])(
    'a page whose name points here gets 421 for %s (it read /metrics and the page)',
    async (path) => {
      const res = await ask(`attacker.example:${fx.gw.adminPort}`, path, TEST_ADMIN_TOKEN);
      const body = expectEnvelope(res, 421, 'misdirected_request');
      expect(body.message).toContain('"attacker.example"');
      expect(body.message).toContain('admin.allowed_hosts');
    },
  );

  it.each([`127.0.0.1:PORT`, '127.0.0.1', '[::1]:PORT', 'localhost:PORT', 'LOCALHOST', '10.1.2.3'])(
    'Host %s is answered',
    async (host) => {
      const res = await ask(host.replace('PORT', String(fx.gw.adminPort)), '/metrics');
      expect(res.status).toBe(200);
    },
  );

  it('a name listed in admin.allowed_hosts is answered, and a reload applies the list', async () => {
    const base = { admin: 'allowed_hosts: [Admin.Internal]' };
    const named = await startAdminFixture({ base });
    const status = async (host: string) => {
      const ex = rawExchange(
        named.gw.adminPort,
        `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      return (await ex.response).status;
    };
    try {
      expect(await status(`admin.internal:${named.gw.adminPort}`)).toBe(200);
      expect(await status('other.internal')).toBe(421);
      base.admin = 'allowed_hosts: [other.internal]';
      expect((await named.gw.reload()).ok).toBe(true);
      expect(await status('other.internal')).toBe(200);
      expect(await status('admin.internal')).toBe(421);
    } finally {
      await named.close();
    }
  });
});

describe('slowloris', () => {
  it('a head not finished within 10 s is 408 request_timeout within a second or two, then closed', async () => {
    const ex = rawExchange(fx.gw.adminPort, 'GET /healthz HTTP/1.1\r\nHost: a\r\n');
    const dribble = setInterval(() => ex.socket.write('X-Slow: 1\r\n'), 200);
    try {
      // Without a connection check every second, Node looks only every 30 s: the answer came after ~25 s.
      const tooLate = new Promise<null>((done) => setTimeout(() => done(null), 13_000).unref());
      const { value: res, ms } = await timed(() => Promise.race([ex.response, tooLate]));
      expect(res, 'no answer within 13 s').not.toBeNull();
      expectEnvelope(res!, 408, 'request_timeout');
      expect(ms).toBeGreaterThan(9_500);
      expect(await ex.closed()).toBe(true);
    } finally {
      clearInterval(dribble);
      ex.socket.destroy();
    }
  }, 20_000);
});
