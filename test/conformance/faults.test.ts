// Faults other than the state store: upstreams that refuse, hang, reset or answer garbage; the SQLite
// user database write-locked by another connection; and clock skew between replicas (a token service
// with an injected clock, +20 s / +5 min / -5 min, signing for a gateway on the real clock).
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditStats } from '../../gateway/audit.js';
import { createTokenService } from '../../gateway/auth/tokens.js';
import { userAgentHash } from '../../gateway/auth/user-agent.js';
import { sqliteExec } from '../../gateway/users/sqlite-store.js';
import { decodePart } from '../gateway/auth/tokens-forge.js';
import { call, newUser, type Reply } from '../integration/accounts/support.js';
import { holdWriteLock, sendUnderLock } from '../support/sqlite-lock.js';
import { timed } from '../support/timed.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import {
  converse,
  expectRawEnvelope,
  head,
  PASSWORD,
  type RecordingUpstream,
  sleep,
  startGateway,
  type TestGateway,
  UA,
  waitFor,
} from './support.js';

function broken(req: IncomingMessage, res: ServerResponse): boolean {
  const socket = req.socket as Socket;
  const url = req.url ?? '';
  const act: Record<string, () => void> = {
    '/bad/hang': () => req.resume(),
    '/bad/stall-body': () => {
      req.resume();
      res.writeHead(200, { 'content-length': '100' });
      res.write('0123456789');
    },
    '/bad/reset-mid-body': () => {
      req.resume();
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(100));
      setTimeout(() => socket.resetAndDestroy(), 30);
    },
    '/bad/reset-before-headers': () => {
      req.resume();
      socket.resetAndDestroy();
    },
    '/bad/close-before-headers': () => {
      req.resume();
      socket.destroy();
    },
    '/bad/garbage': () => {
      req.resume();
      socket.end('SPDY/3 700 WHAT\r\n\r\n');
    },
    // A head with a length, then nothing: the head is not yet the client's (it waits for the body).
    '/bad/head-then-close': () => {
      req.resume();
      res.writeHead(200, { 'content-length': '100' });
      res.flushHeaders();
      setTimeout(() => socket.destroy(), 30);
    },
    '/bad/head-then-stall': () => {
      req.resume();
      res.writeHead(200, { 'content-length': '100' });
      res.flushHeaders();
    },
    // RFC 9110 §8.6: a 304 may carry the resource's Content-Length; no body follows.
    '/bad/not-modified-with-length': () => {
      req.resume();
      res.writeHead(304, { etag: '"v1"', 'content-length': '1234' });
      res.end();
    },
    '/bad/head-40kb': () => {
      req.resume();
      res.writeHead(200, { 'x-big': 'b'.repeat(40 * 1024), 'content-length': '2' });
      res.end('ok');
    },
    '/bad/head-80kb': () => {
      req.resume();
      res.writeHead(200, { 'x-big': 'b'.repeat(80 * 1024), 'content-length': '2' });
      res.end('ok');
    },
    '/bad/reset-during-upload': () => {
      req.once('data', () => socket.resetAndDestroy());
    },
  };
  const run = act[url];
  if (run === undefined) return false;
  run();
  return true;
}

let up: RecordingUpstream;
let gw: TestGateway;
let deadPort: number;

beforeAll(async () => {
  up = await startRecordingUpstream(broken);
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((done) => probe.close(() => done()));
  gw = await startGateway(`routes:
  - { name: bad, path: /bad, upstream: "${up.origin}", auth: public, timeout: 500ms }
  - { name: dead, path: /dead, upstream: "http://127.0.0.1:${deadPort}", auth: public }
  - { name: pub, path: /pub, upstream: "${up.origin}", auth: public }
  - { name: secure, path: /secure, upstream: "${up.origin}", auth: required }`);
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

describe('upstream faults', () => {
  it.each<[string, string, number, string, number]>([
    ['refusing connections', '/dead/x', 502, 'upstream_unavailable', 1_500],
    ['accepting and never answering (route timeout 500 ms)', '/bad/hang', 504, 'upstream_timeout', 1_500],
    ['resetting before the headers', '/bad/reset-before-headers', 502, 'upstream_unavailable', 1_500],
    ['closing before the headers', '/bad/close-before-headers', 502, 'upstream_unavailable', 1_500],
    ['answering garbage', '/bad/garbage', 502, 'upstream_unavailable', 1_500],
    ['answering with a head over 64 KiB', '/bad/head-80kb', 502, 'upstream_unavailable', 1_500],
    // Both used to cut the connection without a byte: the head was counted as sent.
    [
      'closing after a head with a length, before its body',
      '/bad/head-then-close',
      502,
      'upstream_unavailable',
      1_500,
    ],
    [
      'stalling after a head with a length (route timeout 500 ms)',
      '/bad/head-then-stall',
      504,
      'upstream_timeout',
      1_500,
    ],
  ])('an upstream %s (%s) → refused in the envelope, promptly', async (_n, path, status, code, bound) => {
    const { value: conv, ms } = await timed(() =>
      converse(gw.port, head('GET', path), { waitMs: 4_000, afterResponseMs: 10 }),
    );
    expectRawEnvelope(conv.responses[0], status, code);
    expect(ms).toBeLessThan(bound);
  });

  it.each<[string, string]>([
    ['resetting mid-body', '/bad/reset-mid-body'],
    ['stalling mid-body beyond the route timeout', '/bad/stall-body'],
  ])(
    'an upstream %s → the client sees a truncated answer and a closed connection, never a complete one',
    async (_n, path) => {
      const conv = await converse(gw.port, head('GET', path), { waitMs: 4_000 });
      expect(conv.closed).toBe(true);
      expect(conv.responses).toEqual([]);
      expect(conv.raw).toMatch(/^HTTP\/1\.1 200/);
    },
  );

  it('an answer head of 40 KB is relayed (it was 502 past 16 KiB)', async () => {
    // Raw: Node's own client refuses heads over 16 KiB.
    const conv = await converse(gw.port, head('GET', '/bad/head-40kb'), { waitMs: 1_000 });
    expect(conv.raw).toMatch(/^HTTP\/1\.1 200 /);
    expect(conv.raw).toContain(`x-big: ${'b'.repeat(40 * 1024)}\r\n`);
  });

  it("a 304 with the resource's Content-Length is relayed, and the connection stays usable (it got nothing)", async () => {
    const conv = await converse(
      gw.port,
      head('GET', '/bad/not-modified-with-length') + head('GET', '/pub/after'),
      { waitMs: 1_000 },
    );
    // Read as raw text: a 304's Content-Length announces no body (RFC 9110 §8.6), which the test's own
    // response parser would wait for.
    expect(conv.raw).toMatch(/^HTTP\/1\.1 304 [^\r]*\r\n/);
    expect(conv.raw.toLowerCase()).toContain('etag: "v1"');
    expect(conv.raw.split('\r\n\r\n')[1]).toMatch(/^HTTP\/1\.1 200 /);
    expect(conv.closed).toBe(false);
  });

  it('an upstream resetting during a 1 MB upload → 502 upstream_unavailable (or the connection cut), never a 200', async () => {
    const body = 'u'.repeat(1024 * 1024);
    const conv = await converse(
      gw.port,
      `${head('POST', '/bad/reset-during-upload', [`Content-Length: ${body.length}`])}${body}`,
      {
        waitMs: 4_000,
        afterResponseMs: 10,
      },
    );
    if (conv.responses.length > 0) expectRawEnvelope(conv.responses[0], 502, 'upstream_unavailable');
    else expect(conv.closed).toBe(true);
  });

  it('after all of them the gateway serves normally', async () => {
    expect((await call(gw, 'GET', '/pub/after')).status).toBe(200);
  });
});

describe('SQLite user database locked by another connection', () => {
  let registerReply: Reply;
  let stallMs = 0;
  const user = newUser();

  it('register during the lock → an error in the envelope; after the release the same register succeeds once', async () => {
    await gw.services.audit.flush();
    const lock = await holdWriteLock(join(gw.dir, 'users.db'));
    // The gateway runs in this process: a stalled event loop shows as a long gap between timer ticks.
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      stallMs = Math.max(stallMs, now - last);
      last = now;
    }, 10);
    try {
      registerReply = await call(gw, 'POST', '/api/auth/register', { json: user });
      await sleep(30);
    } finally {
      clearInterval(ticker);
      await lock.release();
    }
    expect(registerReply.status).toBeGreaterThanOrEqual(500);
    expect(registerReply.body).toEqual({
      status: 'failed',
      message: expect.any(String),
      code: expect.any(String),
    });
    const again = await call(gw, 'POST', '/api/auth/register', { json: user });
    expect(again.status).toBe(201);
    const login = await call(gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: PASSWORD },
    });
    expect(login.status).toBe(200);
  });

  // better-sqlite3 waits for a lock on the event loop: the busy timeout is short (250 ms) so one write
  // against a locked database never stalls every request of the process for long.
  it('the event loop never stalls for 1 s while that register waits for the lock', () => {
    expect(stallMs).toBeLessThan(1_000);
  });

  // Login records are queued with the audit events and retried: a locked database neither fails the
  // login nor loses its record.
  it('a login during the lock succeeds, and its record is written once the lock is gone', async () => {
    const before = Number(
      sqliteExec(join(gw.dir, 'users.db'), 'SELECT count(*) AS n FROM login_records')[0]!.n,
    );
    await gw.services.audit.flush();
    const lock = await holdWriteLock(join(gw.dir, 'users.db'));
    let during: Reply;
    try {
      during = await call(gw, 'POST', '/api/auth/login', { json: { email: user.email, password: PASSWORD } });
      await sleep(300);
    } finally {
      await lock.release();
    }
    expect(during.status).toBe(200);
    await gw.services.audit.flush();
    const after = Number(
      sqliteExec(join(gw.dir, 'users.db'), 'SELECT count(*) AS n FROM login_records')[0]!.n,
    );
    expect(after).toBe(before + 1);
    const fresh = await call(gw, 'GET', '/secure/still', { token: String(during.body!.data!.access) });
    expect(fresh.status).toBe(200);
  });

  // While the lock lasts, the answer waits at most WRITTEN_WAIT_MS (1 s) for the record (audit.ts).
  it('a login held by the lock for less than a second is answered after its record is written', async () => {
    const count = () =>
      Number(sqliteExec(join(gw.dir, 'users.db'), 'SELECT count(*) AS n FROM login_records')[0]!.n);
    await gw.services.audit.flush();
    const before = count();
    const { reply, answeredAt, releasedAt } = await sendUnderLock(join(gw.dir, 'users.db'), () =>
      call(gw, 'POST', '/api/auth/login', { json: { email: user.email, password: PASSWORD } }),
    );
    // No flush: the record is there when the answer is.
    const after = count();
    expect(reply.status).toBe(200);
    expect(answeredAt).toBeGreaterThan(releasedAt);
    expect(after).toBe(before + 1);
  });

  it('a login answered while the lock lasts is held for 1 s at most (then its record is written later)', async () => {
    await gw.services.audit.flush();
    const audit = gw.services.audit;
    const lock = await holdWriteLock(join(gw.dir, 'users.db'));
    const started = performance.now();
    let reply: Reply;
    let took: number;
    let whileHeld: AuditStats;
    let afterAnswer: AuditStats;
    try {
      const pending = call(gw, 'POST', '/api/auth/login', {
        json: { email: user.email, password: PASSWORD },
      });
      await waitFor(() => audit.stats().waiting > 0, 5_000, 'the login to wait for its record');
      whileHeld = audit.stats();
      reply = await pending;
      took = performance.now() - started;
      afterAnswer = audit.stats();
    } finally {
      await lock.release();
    }
    expect(reply.status).toBe(200);
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(4_000);
    expect(whileHeld.waiting).toBe(1);
    expect(whileHeld.queued).toBeGreaterThanOrEqual(1);
    // The answer gave up waiting and left the list; its records stay queued until the lock goes.
    expect(afterAnswer.waiting).toBe(0);
    expect(afterAnswer.queued).toBeGreaterThanOrEqual(1);
    await audit.flush();
    expect(audit.stats()).toEqual({ queued: 0, waiting: 0, dropped: 0 });
  });
});

describe('clock skew between replicas (HS256, shared secret, 30 s tolerance)', () => {
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    const user = newUser();
    expect((await call(gw, 'POST', '/api/auth/register', { json: user })).status).toBe(201);
    const login = await call(gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: PASSWORD },
    });
    claims = decodePart(String(login.body!.data!.access), 1);
  });

  /** A second replica's token service: same key, its clock off by `skewMs`. */
  async function replicaToken(skewMs: number): Promise<string> {
    const replica = await createTokenService({
      tokens: gw.config.tokens,
      assertionKeyFile: null,
      dataDir: mkdtempSync(join(tmpdir(), 'portcullis-replica-')),
      now: () => Date.now() + skewMs,
      cacheSize: 0,
    });
    const signed = await replica.signAccess({
      sub: String(claims.sub),
      sid: String(claims.sid),
      roles: claims.roles as string[],
      dev: userAgentHash(UA),
    });
    return signed.token;
  }

  it.each<[string, number, number, string | undefined]>([
    ['+20 s (within tolerance)', 20_000, 200, undefined],
    ['+29 s', 29_000, 200, undefined],
    ['-5 min (still inside its lifetime)', -300_000, 200, undefined],
    ['+5 min (iat in the future)', 300_000, 401, 'invalid_token'],
    ['+1 h', 3_600_000, 401, 'invalid_token'],
    ['-20 min (expired by our clock)', -1_200_000, 401, 'token_expired'],
  ])('a token minted by a replica whose clock is %s', async (_n, skew, status, code) => {
    const mark = up.requests.length;
    const res = await call(gw, 'GET', '/secure/skew', { token: await replicaToken(skew) });
    expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
    expect(up.requests.length - mark).toBe(status === 200 ? 1 : 0);
  });
});
