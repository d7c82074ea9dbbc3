// Upstreams that misbehave below HTTP: a connect that never completes (against the route timeout and
// the connect timeout, with passive health), an unsolicited 100 Continue, and a slow upload over a
// fresh connection (the route timeout must not cut an upstream that is still being sent the body).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import {
  type BlackholeUpstream,
  type RawUpstream,
  startBlackholeUpstream,
  startRawUpstream,
} from '../support/misbehaving.js';
import { timed } from '../support/timed.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { expectEnvelope, type HttpResult, http, rawExchange, sleep } from './helpers.js';

let gw: TestGateway;
let blackhole: BlackholeUpstream;
let live: RecordingUpstream;
let interim100: RawUpstream;
let uploads: RecordingUpstream;

const NO_BLACKHOLE =
  'the kernel here completes or refuses connects to a full listener: no hanging connect to test';

beforeAll(async () => {
  blackhole = await startBlackholeUpstream();
  live = await startRecordingUpstream();
  uploads = await startRecordingUpstream();
  interim100 = await startRawUpstream(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok',
  );
  gw = await startTestGateway(`
rate_limits: { global: { anonymous: 100000/h } }
routes:
  - { name: hang, path: /hang, upstream: "${blackhole.origin}", auth: public, timeout: 1s }
  - { name: hang-long, path: /hang-long, upstream: "${blackhole.origin}", auth: public, timeout: 8s }
  - { name: hang-pair, path: /hang-pair, upstream: ["${blackhole.origin}", "${live.origin}"], auth: public, timeout: 8s }
  - { name: hang-pair-short, path: /hang-pair-short, upstream: ["${blackhole.origin}", "${live.origin}"], auth: public, timeout: 1s }
  - { name: live, path: /live, upstream: "${live.origin}", auth: public }
  - { name: interim, path: /interim, upstream: "${interim100.origin}", auth: public }
  - { name: uploads, path: /uploads, upstream: "${uploads.origin}", auth: public, timeout: 1s }
`);
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([blackhole?.close(), live?.close(), interim100?.close(), uploads?.close()]);
});

async function timedHttp(
  url: string,
  options?: Parameters<typeof http>[1],
): Promise<HttpResult & { ms: number }> {
  const { value, ms } = await timed(() => http(url, options));
  return { ...value, ms };
}

describe('a connect that never completes', () => {
  it('is 504 upstream_timeout at the route timeout (1 s), for GET and for a request with a body', async (ctx) => {
    ctx.skip(!blackhole.hangs, NO_BLACKHOLE);
    const [get, post] = await Promise.all([
      timedHttp(`${gw.url}/hang/x`),
      timedHttp(`${gw.url}/hang/y`, { method: 'POST', body: 'payload' }),
    ]);
    for (const res of [get, post]) {
      expectEnvelope(res, 504, 'upstream_timeout');
      expect(res.ms).toBeGreaterThan(900);
      expect(res.ms).toBeLessThan(2_500);
    }
  });

  it.concurrent('past the connect timeout (5 s, under a longer route timeout): 504, the target is marked down and a bodiless request goes on to the next', async (ctx) => {
    ctx.skip(!blackhole.hangs, NO_BLACKHOLE);
    const [alone, pair] = await Promise.all([
      timedHttp(`${gw.url}/hang-long/x`),
      timedHttp(`${gw.url}/hang-pair/x`),
    ]);
    expectEnvelope(alone, 504, 'upstream_timeout');
    expect(alone.ms).toBeGreaterThan(4_500);
    expect(alone.ms).toBeLessThan(7_500);
    // The retry reached the live target within the same route timeout.
    expect(pair.status).toBe(200);
    expect(pair.ms).toBeGreaterThan(4_500);
    expect(pair.ms).toBeLessThan(7_500);
    // The unreachable target is skipped now: round robin would have picked it for one of these.
    for (let i = 0; i < 3; i++) {
      const next = await timedHttp(`${gw.url}/hang-pair/x`);
      expect(next.status).toBe(200);
      expect(next.ms).toBeLessThan(1_000);
    }
  }, 20_000);

  it.concurrent('a connect still pending when the route timeout answered the client marks the target down once it times out', async (ctx) => {
    ctx.skip(!blackhole.hangs, NO_BLACKHOLE);
    const first = await timedHttp(`${gw.url}/hang-pair-short/x`);
    expectEnvelope(first, 504, 'upstream_timeout');
    expect(first.ms).toBeLessThan(2_500);
    // The abandoned connect times out 5 s after it started (undici's coarse timers may add ½ s); from
    // then on the target is skipped.
    await sleep(6_500 - first.ms);
    for (let i = 0; i < 3; i++) {
      const next = await timedHttp(`${gw.url}/hang-pair-short/x`);
      expect(next.status).toBe(200);
      expect(next.ms).toBeLessThan(1_000);
    }
  }, 20_000);
});

describe('an unsolicited 100 Continue', () => {
  // Pinned behaviour, not the goal: undici's HTTP/1.1 parser destroys the connection on any 100 before
  // a handler sees it (README, Known limitations). The client gets the envelope and the gateway lives.
  it('is 502 upstream_unavailable in the envelope, and the gateway keeps serving', async () => {
    expectEnvelope(await http(`${gw.url}/interim/x`), 502, 'upstream_unavailable');
    expect((await http(`${gw.url}/live/after`)).status).toBe(200);
    expectEnvelope(await http(`${gw.url}/interim/again`), 502, 'upstream_unavailable');
  });
});

describe('a slow upload', () => {
  it('pausing longer than the route timeout, over a fresh connection, still reaches the upstream and is answered', async () => {
    // The route timeout is the upstream's to keep, not the client's: the clock holds while the body goes out.
    const parts = 3;
    const ex = rawExchange(
      gw.port,
      `POST /uploads/slow HTTP/1.1\r\nHost: gw.test\r\nContent-Length: ${parts * 4}\r\nConnection: close\r\n\r\npart`,
    );
    for (let i = 1; i < parts; i++) {
      await sleep(1_300);
      ex.socket.write('part');
    }
    const res = await ex.response;
    expect(res.status).toBe(200);
    expect(uploads.requests.at(-1)?.body.toString()).toBe('part'.repeat(parts));
  });
});
