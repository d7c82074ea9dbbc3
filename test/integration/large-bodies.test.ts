// Large bodies through the built gateway run as a child process, so its peak RSS (VmHWM) can be
// read from /proc: a streaming proxy stays flat however big the body; a buffering one grows with it.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { type ChildGateway, childBaseYaml, http, startChildGateway } from './helpers.js';

const MB = 1024 * 1024;
const SIZE = 200 * MB;
const CHUNK = Buffer.alloc(256 * 1024, 0x61);
/**
 * Growth of the gateway's peak RSS allowed over the run: half of one body, so a proxy that buffers
 * a body fails. Streaming measured ~50-60 MB here for 25 MB and for 400 MB bodies alike (GC slack).
 */
const RSS_BUDGET = 100 * MB;

let up: RecordingUpstream;
let gw: ChildGateway;

beforeAll(async () => {
  up = await startRecordingUpstream((req, res) => {
    if (req.url === '/big/sink') {
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ bytes })));
      return true;
    }
    if (req.url === '/big/source') {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
      let left = SIZE;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return true;
    }
    return false;
  });
  gw = await startChildGateway({
    yaml: (dir) => `${childBaseYaml(dir)}
routes:
  - { name: big, path: /big, upstream: "${up.origin}", auth: public }
`,
  });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** Streams SIZE bytes up, with Content-Length or chunked, and returns what the upstream counted. */
function upload(chunked: boolean): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(
      `${gw.url}/big/sink`,
      {
        method: 'POST',
        agent: false,
        headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': SIZE },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => done((JSON.parse(text) as { bytes: number }).bytes));
      },
    );
    req.on('error', fail);
    let left = SIZE;
    const pump = (): void => {
      while (left > 0) {
        left -= CHUNK.length;
        if (!req.write(CHUNK)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

function download(): Promise<number> {
  return new Promise((done, fail) => {
    request(`${gw.url}/big/source`, { agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () => done(bytes));
      res.on('error', fail);
    })
      .on('error', fail)
      .end();
  });
}

describe('large bodies', () => {
  it(`streams ${SIZE / MB} MB up (sized and chunked) and down with the gateway's RSS flat`, async () => {
    // Warm up first, so the baseline includes the code paths' own allocations.
    expect((await http(`${gw.url}/big/warm`)).status).toBe(200);
    const baseline = gw.peakRss();
    expect(await upload(false)).toBe(SIZE);
    expect(await upload(true)).toBe(SIZE);
    expect(await download()).toBe(SIZE);
    const growth = gw.peakRss() - baseline;
    expect(growth, `peak RSS grew by ${(growth / MB).toFixed(1)} MB`).toBeLessThan(RSS_BUDGET);
  });
});
