// Graceful shutdown of the built gateway as a child process: SIGTERM stops accepting, closes idle
// keep-alive connections, lets in-flight requests finish (bounded by shutdown_timeout) and exits 0.
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import {
  type ChildGateway,
  childBaseYaml,
  http,
  rawExchange,
  startChildGateway,
  waitFor,
} from './helpers.js';

function connectOnce(port: number): Promise<void> {
  return new Promise((done, fail) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      done();
    });
    socket.once('error', fail);
  });
}

/** An upstream whose /slow answers only when the test releases it. */
function holdingUpstream(): {
  handler: (req: IncomingMessage, res: ServerResponse) => boolean;
  held: () => number;
  release: () => void;
} {
  const waiting: ServerResponse[] = [];
  return {
    handler(req, res) {
      if (!req.url!.startsWith('/slow/hold')) return false;
      req.resume();
      waiting.push(res);
      return true;
    },
    held: () => waiting.length,
    release: () => {
      for (const res of waiting.splice(0)) res.end('finished after SIGTERM');
    },
  };
}

let up: RecordingUpstream | undefined;
let gw: ChildGateway | undefined;

afterEach(async () => {
  if (gw !== undefined && gw.child.exitCode === null) gw.child.kill('SIGKILL');
  await up?.close();
});

const yaml = (origin: string, shutdownTimeout: string) => (dir: string) =>
  `${childBaseYaml(dir).replace('shutdown_timeout: 10s', `shutdown_timeout: ${shutdownTimeout}`)}
routes:
  - { name: slow, path: /slow, upstream: "${origin}", auth: public }
`;

describe('SIGTERM', () => {
  it('finishes the request in flight, refuses new connections, closes idle ones and exits 0', async () => {
    const hold = holdingUpstream();
    up = await startRecordingUpstream(hold.handler);
    gw = await startChildGateway({ yaml: yaml(up.origin, '10s') });

    const idle = rawExchange(gw.port, 'GET /slow/quick HTTP/1.1\r\nHost: gw.test\r\n\r\n');
    expect((await idle.response).status).toBe(200);
    const inFlight = http(`${gw.url}/slow/hold`);
    await waitFor(() => hold.held() === 1, 5_000, 'the upstream to hold the request');

    gw.child.kill('SIGTERM');
    await gw.waitForLog((l) => l.msg === 'shutting down: draining in-flight requests');
    expect(await idle.closed(2_000)).toBe(true);
    await expect(connectOnce(gw.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const ready = await http(`http://127.0.0.1:${gw.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    // Draining, not a store that failed: a load balancer (or a person) reading the code sees why.
    expect(JSON.parse(ready.body.toString())).toMatchObject({ code: 'shutting_down' });

    hold.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('finished after SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.logs.some((l) => l.msg === 'shutdown complete')).toBe(true);
    expect(gw.stderr()).toBe('');
  });

  it('a second SIGTERM or a SIGINT during the drain neither kills the process nor cuts the request in flight', async () => {
    const hold = holdingUpstream();
    up = await startRecordingUpstream(hold.handler);
    gw = await startChildGateway({ yaml: yaml(up.origin, '10s') });
    const inFlight = http(`${gw.url}/slow/hold`);
    await waitFor(() => hold.held() === 1, 5_000, 'the upstream to hold the request');
    gw.child.kill('SIGTERM');
    await gw.waitForLog((l) => l.msg === 'shutting down: draining in-flight requests');
    // An impatient operator (or a supervisor) signals again: the default action would end the process.
    gw.child.kill('SIGTERM');
    gw.child.kill('SIGINT');
    await gw.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('signal received while draining'),
    );
    expect(gw.child.exitCode).toBeNull();
    hold.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('finished after SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(gw.child.signalCode).toBeNull();
  });

  it('gives up on a request that outlives shutdown_timeout and still exits 0', async () => {
    const hold = holdingUpstream();
    up = await startRecordingUpstream(hold.handler);
    gw = await startChildGateway({ yaml: yaml(up.origin, '500ms') });
    const stuck = http(`${gw.url}/slow/hold`).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code,
    );
    await waitFor(() => hold.held() === 1, 5_000, 'the upstream to hold the request');
    const started = Date.now();
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await stuck).toBe('ECONNRESET');
  });
});

describe('a crash', () => {
  it('an uncaught exception is logged at fatal with its stack, written to stderr, and the process exits 1', async () => {
    up = await startRecordingUpstream();
    const origin = up.origin;
    gw = await startChildGateway({
      yaml: (dir) => {
        // Preloaded: a signal handler that throws, standing in for a bug nothing catches.
        writeFileSync(
          join(dir, 'crash.mjs'),
          "process.on('SIGUSR2', () => { throw new Error('boom from the crash test'); });\n",
        );
        return yaml(origin, '10s')(dir);
      },
      env: { NODE_OPTIONS: '--import ./crash.mjs' },
    });
    gw.child.kill('SIGUSR2');
    expect(await gw.exited).toBe(1);
    // The pipe may deliver the last lines after the exit is seen.
    const fatal = await gw.waitForLog((line) => line.level === 'fatal', 2_000);
    expect(fatal.msg).toBe('uncaught exception: the process exits');
    expect(JSON.stringify(fatal.err)).toContain('boom from the crash test');
    expect(gw.stderr()).toContain('boom from the crash test');
  });
});
