// Resource exhaustion: slowloris heads and bodies (1 s headers_timeout and idle_timeout, 2 s body_timeout here), huge
// bodies on the auth endpoints, very long passwords (answered without unbounded hashing), many
// concurrent logins at the real Argon2 cost (the event loop stays responsive), deep JSON (400, no crash).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newUser, register } from '../integration/accounts/support.js';
import { timed } from '../support/timed.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import {
  converse,
  expectRawEnvelope,
  PASSWORD,
  type RecordingUpstream,
  since,
  sleep,
  startGateway,
  type TestGateway,
  uniq,
} from './support.js';

let up: RecordingUpstream;
let gw: TestGateway;
let user: ReturnType<typeof newUser>;

beforeAll(async () => {
  up = await startRecordingUpstream();
  // The real Argon2 parameters (m=19 MiB, t=2): hashing cost is part of what is measured here.
  gw = await startGateway(`routes:\n  - { name: pub, path: /pub, upstream: "${up.origin}", auth: public }`, {
    fastHash: false,
    base: { server: 'headers_timeout: 1s, idle_timeout: 1s, body_timeout: 2s' },
  });
  user = newUser();
  expect((await register(gw, user)).status).toBe(201);
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

const HEAD = 'POST /api/auth/login HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\n';

describe.concurrent('slowloris (headers_timeout 1 s, idle_timeout 1 s)', () => {
  it.each<[string, string[], number]>([
    [
      'a head trickled one header every 300 ms',
      ['GET /pub/slow HTTP/1.1\r\nHost: gw.test\r\n', ...Array(15).fill('X-A: b\r\n')],
      300,
    ],
    ['a head trickled one byte every 300 ms', [...'GET /pub/slow HTTP/1.1\r\nHost: g'], 300],
    ['a connection that sends nothing', [], 0],
    ['a head that never ends', ['GET /pub/slow HTTP/1.1\r\nHost: gw.test\r\n'], 0],
  ])('%s is closed within 3 s and never forwarded', async (_n, pieces, gapMs) => {
    const mark = up.requests.length;
    const { value: conv, ms } = await timed(() => converse(gw.port, pieces, { gapMs, waitMs: 6_000 }));
    expect(conv.closed).toBe(true);
    expect(ms).toBeLessThan(3_000);
    const status = conv.responses[0]?.status;
    if (status !== undefined) expectRawEnvelope(conv.responses[0], 408, 'request_timeout');
    expect(since(up, mark).filter((r) => r.url.startsWith('/pub/slow'))).toEqual([]);
  });

  it.each<[string, string]>([
    [
      'a proxied body that stops half way',
      'POST /pub/slowbody HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0123456789',
    ],
    ['a login body that stops half way', `${HEAD}Content-Length: 100\r\n\r\n{"email":"`],
    ['a chunked login body that stops', `${HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\n{"ema\r\n`],
  ])('%s is cut after the idle timeout, and no complete request reaches the upstream', async (_n, data) => {
    const mark = up.requests.length;
    const { value: conv, ms } = await timed(() => converse(gw.port, data, { waitMs: 6_000 }));
    expect(conv.closed).toBe(true);
    expect(ms).toBeLessThan(3_000);
    expect(ms).toBeGreaterThan(800);
    expect(since(up, mark)).toEqual([]);
  });
});

describe.concurrent('own-endpoint bodies trickled faster than the idle timeout (body_timeout 2 s)', () => {
  const body = JSON.stringify({ email: 'trickle@example.com', password: 'x'.repeat(40) });
  it.each<[string, string, string[]]>([
    ['a login body, one byte every 300 ms', `${HEAD}Content-Length: ${body.length}\r\n\r\n`, [...body]],
    [
      'a chunked login body, one chunk of a byte every 300 ms',
      `${HEAD}Transfer-Encoding: chunked\r\n\r\n`,
      [...body].map((c) => `1\r\n${c}\r\n`),
    ],
  ])('%s: 408 request_timeout at body_timeout, the connection closed', async (_n, head, pieces) => {
    // Each byte resets the 1 s idle timer: only the body's own deadline ends it (the whole body would
    // take about 20 s).
    const { value: conv, ms } = await timed(() =>
      converse(gw.port, [head, ...pieces], { gapMs: 300, waitMs: 8_000 }),
    );
    expect(conv.closed).toBe(true);
    expectRawEnvelope(conv.responses[0], 408, 'request_timeout');
    expect(ms).toBeGreaterThan(1_800);
    expect(ms).toBeLessThan(4_000);
  });
});

describe('huge bodies on the auth endpoints (body_limit 1mb)', () => {
  it.each<[string, string]>([
    ['login', '/api/auth/login'],
    ['register', '/api/auth/register'],
    ['refresh', '/api/auth/refresh'],
  ])(
    '%s announcing 10 MB → 413 payload_too_large before any body is sent, connection closed',
    async (_n, path) => {
      const { value: conv, ms } = await timed(() =>
        converse(
          gw.port,
          `POST ${path} HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n`,
          { waitMs: 3_000 },
        ),
      );
      expectRawEnvelope(conv.responses[0], 413, 'payload_too_large');
      expect(conv.closed).toBe(true);
      expect(ms).toBeLessThan(1_000);
    },
  );

  it.each<[string, string]>([
    ['login', '/api/auth/login'],
    ['register', '/api/auth/register'],
  ])('%s streaming 2 MB chunked → 413 payload_too_large, connection closed', async (_n, path) => {
    const chunk = `${(64 * 1024).toString(16)}\r\n${'a'.repeat(64 * 1024)}\r\n`;
    const pieces = [
      `POST ${path} HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      ...Array(32).fill(chunk),
      '0\r\n\r\n',
    ];
    const conv = await converse(gw.port, pieces, { waitMs: 5_000 });
    expectRawEnvelope(conv.responses[0], 413, 'payload_too_large');
    expect(conv.closed).toBe(true);
  });

  it('a 2 MB body on logout is refused before it is read: authentication comes first', async () => {
    const conv = await converse(
      gw.port,
      'POST /api/auth/logout HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n{',
      { waitMs: 3_000, afterResponseMs: 20 },
    );
    expectRawEnvelope(conv.responses[0], 401, 'missing_token');
  });
});

describe('very long passwords: answered quickly, never hashed in full', () => {
  it.each<[string, () => unknown, number, string]>([
    [
      'login, a 1,000,000-character password',
      () => ({ email: user.email, password: 'a'.repeat(1_000_000) }),
      400,
      'validation_failed',
    ],
    [
      'register, a 500,000-character password (twice)',
      () => ({ ...newUser(), password: 'b'.repeat(500_000), password_confirm: 'b'.repeat(500_000) }),
      400,
      'validation_failed',
    ],
    [
      'login, max_length + 1 code points',
      () => ({ email: user.email, password: 'c'.repeat(1_025) }),
      401,
      'invalid_credentials',
    ],
    [
      'login, 4,096 four-byte emoji',
      () => ({ email: user.email, password: '😀'.repeat(4_096) }),
      401,
      'invalid_credentials',
    ],
    [
      'register, max_length + 1 code points',
      () => ({ ...newUser(), password: 'Zq9!'.repeat(257), password_confirm: 'Zq9!'.repeat(257) }),
      400,
      'validation_failed',
    ],
  ])('%s → refused within 1.5 s', async (name, body, status, code) => {
    const path = name.startsWith('login') ? '/api/auth/login' : '/api/auth/register';
    const { value: res, ms } = await timed(() => call(gw, 'POST', path, { json: body() }));
    expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
    expect(ms).toBeLessThan(1_500);
  });

  it('a 1.1 MB password is over body_limit → 413', async () => {
    const res = await call(gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: 'a'.repeat(1_100_000) },
    });
    expect({ status: res.status, code: res.body?.code }).toEqual({ status: 413, code: 'payload_too_large' });
  });
});

describe('many concurrent logins at the real Argon2 cost', () => {
  it('30 logins at once: all answered, and a proxied request meanwhile answers within 750 ms', async () => {
    const logins = Array.from({ length: 30 }, (_, i) =>
      call(gw, 'POST', '/api/auth/login', {
        json: { email: user.email, password: i % 3 === 0 ? 'wrong-password-123' : PASSWORD },
      }),
    );
    let settled = false;
    const all = Promise.all(logins).finally(() => {
      settled = true;
    });
    const latencies: number[] = [];
    while (!settled) {
      const { value, ms } = await timed(() => call(gw, 'GET', `/pub/${uniq('probe')}`));
      expect(value.status).toBe(200);
      latencies.push(ms);
      await sleep(20);
    }
    const results = await all;
    expect(results.map((r) => r.status).sort()).toEqual(
      [...Array(10).fill(401), ...Array(20).fill(200)].sort(),
    );
    expect(latencies.length).toBeGreaterThan(0);
    expect(Math.max(...latencies)).toBeLessThan(750);
  });
});

describe('deep JSON', () => {
  const deep = 100_000;
  it.each<[string, () => string, string]>([
    ['an array 100k deep', () => `${'['.repeat(deep)}${']'.repeat(deep)}`, 'validation_failed'],
    ['an object 100k deep', () => `${'{"a":'.repeat(deep)}1${'}'.repeat(deep)}`, 'validation_failed'],
    [
      'an email that is an array 100k deep',
      () => `{"email":${'['.repeat(deep)}${']'.repeat(deep)},"password":"x"}`,
      'validation_failed',
    ],
    // Refused for its depth before it is parsed (so not as malformed JSON): validation_failed.
    ['unbalanced brackets 100k deep', () => '['.repeat(deep), 'validation_failed'],
  ])('%s → 400, and the gateway keeps answering', async (_n, body, code) => {
    for (const path of ['/api/auth/login', '/api/auth/register']) {
      const res = await call(gw, 'POST', path, {
        body: body(),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect(['validation_failed', 'invalid_json']).toContain(res.body?.code);
      if (path === '/api/auth/login') expect(res.body?.code).toBe(code);
    }
    expect((await call(gw, 'GET', '/pub/alive')).status).toBe(200);
  });
});

describe('idle connections', () => {
  it('200 silent connections are all closed after the timeout, and requests are served meanwhile', async () => {
    const silent = Array.from({ length: 200 }, () => converse(gw.port, [], { waitMs: 6_000 }));
    const { value: res, ms } = await timed(() => call(gw, 'GET', '/pub/while-idle'));
    expect(res.status).toBe(200);
    expect(ms).toBeLessThan(500);
    const convs = await Promise.all(silent);
    expect(convs.every((c) => c.closed)).toBe(true);
  });
});
