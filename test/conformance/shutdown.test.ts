// SIGTERM under load, on the built gateway as a child process: 30 proxied requests in flight and new
// ones still arriving. Every request in flight completes whole, every later one is refused or answered
// (never left hanging), and the process exits 0.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ChildGateway,
  childBaseYaml,
  type HttpResult,
  http,
  startChildGateway,
  waitFor,
} from '../integration/helpers.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

let up: RecordingUpstream | undefined;
let gw: ChildGateway | undefined;
let held = 0;

function slow(req: IncomingMessage, res: ServerResponse): boolean {
  if (!req.url!.startsWith('/slow/')) return false;
  req.resume();
  held += 1;
  const body = `done ${req.url} ${'z'.repeat(64 * 1024)}`;
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, 600);
  return true;
}

afterAll(async () => {
  if (gw !== undefined && gw.child.exitCode === null) gw.child.kill('SIGKILL');
  await up?.close();
});

describe('SIGTERM under load', () => {
  it('in-flight requests complete whole, late ones are refused or answered, exit 0', async () => {
    up = await startRecordingUpstream(slow);
    const origin = up.origin;
    gw = await startChildGateway({
      yaml: (dir) => `${childBaseYaml(dir)}
rate_limits: { global: { anonymous: 1000000/h } }
routes:
  - { name: slow, path: /slow, upstream: "${origin}", auth: public }
`,
    });
    const url = gw.url;
    const inFlight = Array.from({ length: 30 }, (_, i) => http(`${url}/slow/${i}`));
    await waitFor(() => held >= 30, 10_000, 'the upstream to hold 30 requests');

    gw.child.kill('SIGTERM');
    // Load keeps coming while the gateway drains: each must end, one way or another, quickly.
    const late: Array<Promise<HttpResult | Error>> = [];
    for (let i = 0; i < 10; i++) {
      late.push(http(`${url}/slow/late-${i}`).catch((err: Error) => err));
      await new Promise((r) => setTimeout(r, 20));
    }

    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    results.forEach((r, i) => {
      expect(r.body.toString().startsWith(`done /slow/${i} `)).toBe(true);
      expect(r.body.length).toBe(Number(r.headers['content-length']));
    });
    for (const outcome of await Promise.all(late)) {
      if (outcome instanceof Error)
        expect((outcome as NodeJS.ErrnoException).code).toMatch(/ECONNREFUSED|ECONNRESET/);
      else expect([200, 503]).toContain(outcome.status);
    }
    expect(await gw.exited).toBe(0);
  });
});
