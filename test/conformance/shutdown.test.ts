// SIGTERM under load, on the built gateway as a child process: 30 proxied requests in flight and new
// ones still arriving. Every request in flight completes whole, every later one is refused or answered
// (never left hanging), and the process exits 0. A start that fails exits 1 and leaves nothing behind.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ChildGateway,
  childBaseYaml,
  type HttpResult,
  http,
  runCli,
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

describe('a start that fails', () => {
  it('the admin port is taken: the process exits 1 at once instead of serving half a gateway', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const adminPort = (taken.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-failed-start-'));
    try {
      const file = join(dir, 'gateway.yaml');
      writeFileSync(
        file,
        `${childBaseYaml(dir).replace('port: 0, token', `port: ${adminPort}, token`)}routes: []\n`,
      );
      // Before, the main listener was already open and kept the process alive, serving, for good.
      const { code, err } = await runCli('start', '--config', file);
      expect(code).toBe(1);
      // One line naming the address and the key, no stack trace.
      expect(err).toContain(
        `cannot listen on 127.0.0.1:${adminPort} (admin.port): the address is already in use`,
      );
      expect(err).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
