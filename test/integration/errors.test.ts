// Every reply the gateway writes itself is the envelope with the right code, and nothing a client or
// an upstream does (garbage, slowloris, resets mid-body, pipelined junk) crashes it or corrupts a response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { expectEnvelope, http, rawExchange, sleep, waitFor } from './helpers.js';

const bodyAborts: string[] = [];

function broken(req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? '';
  const socket = req.socket as Socket;
  if (url.startsWith('/broken/reset-mid-body')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
    res.write('x'.repeat(100));
    setTimeout(() => socket.resetAndDestroy(), 30);
    return true;
  }
  if (url.startsWith('/broken/reset-before-headers')) {
    req.resume();
    socket.resetAndDestroy();
    return true;
  }
  if (url.startsWith('/broken/garbage-status')) {
    req.resume();
    socket.end('NOT HTTP AT ALL\r\n\r\n');
    return true;
  }
  if (url.startsWith('/broken/short-chunked')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
    setTimeout(() => socket.destroy(), 30);
    return true;
  }
  if (url.startsWith('/broken/stream')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 1\n\n');
    setTimeout(() => res.end('data: 2\n\n'), 300);
    return true;
  }
  if (url.startsWith('/patient/answer')) {
    req.resume();
    setTimeout(() => res.end('worth the wait'), 1_200);
    return true;
  }
  if (url.startsWith('/patient/sse')) {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    setTimeout(() => res.write('data: after a silence\n\n'), 1_200);
    setTimeout(() => res.end(), 1_300);
    return true;
  }
  if (url.startsWith('/broken/body') || url.startsWith('/patient/body')) {
    req.on('data', () => undefined);
    req.on('close', () => {
      if (!req.complete) {
        bodyAborts.push(url);
        res.destroy();
      }
    });
    return true;
  }
  return false;
}

let gw: TestGateway;
let up: RecordingUpstream;

beforeAll(async () => {
  up = await startRecordingUpstream(broken);
  gw = await startTestGateway(
    `
rate_limits: { global: { anonymous: 100000/h } }
routes:
  - { name: broken, path: /broken, upstream: "${up.origin}", auth: public }
  - { name: get-post, path: /gp, upstream: "${up.origin}", auth: public, methods: [GET, POST] }
  - { name: hosted, path: /hosted, host: api.test, upstream: "${up.origin}", auth: public }
  - { name: patient, path: /patient, upstream: "${up.origin}", auth: public, timeout: 5s }
`,
    { base: { server: 'headers_timeout: 500ms, idle_timeout: 500ms' } },
  );
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

async function stillServing(): Promise<void> {
  expect((await http(`${gw.url}/gp/alive`)).status).toBe(200);
}

describe('gateway-written replies are the envelope', () => {
  it.each([
    ['an unknown path', 'GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n', 404, 'route_not_found'],
    ['a route of another host', 'GET /hosted/x HTTP/1.1\r\nHost: other.test\r\n\r\n', 404, 'route_not_found'],
    ['a dot segment', 'GET /gp/../broken/x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_path'],
    ['an encoded slash', 'GET /gp%2F..%2Fbroken HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_path'],
    ['an empty segment', 'GET //gp/x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_path'],
    ['a path parameter', 'GET /gp;jsessionid=1/x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_path'],
    ['absolute-form', 'GET http://a/gp/x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_path'],
    ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_path'],
    // Neither origin- nor absolute-form: Node's parser refuses it (HPE_INVALID_URL) before any stage runs.
    ['a relative target', 'GET raw/a HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_request'],
    ['an invalid method token', 'G(T /gp/x HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_request'],
    ['an unknown HTTP version', 'GET /gp/x HTTP/7.1\r\nHost: a\r\n\r\n', 400, 'bad_request'],
    ['a NUL in a header value', 'GET /gp/x HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b\r\n\r\n', 400, 'bad_request'],
    [
      'a bad chunk size',
      'POST /gp/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      400,
      'bad_request',
    ],
  ])('%s', async (_what, request, status, code) => {
    const ex = rawExchange(gw.port, request);
    const res = await ex.response;
    expectEnvelope(res, status, code);
    await stillServing();
  });

  it('405 method_not_allowed carries Allow', async () => {
    const res = await http(`${gw.url}/gp/x`, { method: 'DELETE' });
    expectEnvelope(res, 405, 'method_not_allowed');
    expect(res.headers.allow).toBe('GET, HEAD, POST');
  });

  it('slowloris: headers not finished within headers_timeout are 408 request_timeout, then closed', async () => {
    const ex = rawExchange(gw.port, 'GET /gp/x HTTP/1.1\r\nHost: a\r\n');
    const dribble = setInterval(() => ex.socket.write('X-Slow: 1\r\n'), 100);
    try {
      const res = await ex.response;
      expectEnvelope(res, 408, 'request_timeout');
      expect(await ex.closed()).toBe(true);
    } finally {
      clearInterval(dribble);
    }
  });
});

describe('idle_timeout', () => {
  it('does not cut a request waiting on an upstream that answers within the route timeout', async () => {
    const res = await http(`${gw.url}/patient/answer`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('worth the wait');
  });

  it('does not cut an event stream that is silent for longer than it', async () => {
    const res = await http(`${gw.url}/patient/sse`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('data: after a silence\n\n');
  });

  it('closes a connection whose request body stalls, and the upstream request is aborted', async () => {
    const ex = rawExchange(
      gw.port,
      'POST /patient/body HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello',
    );
    expect(await ex.closed(3_000)).toBe(true);
    await waitFor(() => bodyAborts.includes('/patient/body'), 3_000, 'the upstream to see the abort');
    await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
  });
});

describe('broken upstreams', () => {
  it('a reset before the headers is 502 upstream_unavailable', async () => {
    expectEnvelope(await http(`${gw.url}/broken/reset-before-headers`), 502, 'upstream_unavailable');
  });

  it('an answer that is not HTTP is 502 upstream_unavailable', async () => {
    expectEnvelope(await http(`${gw.url}/broken/garbage-status`), 502, 'upstream_unavailable');
  });

  it.each(['/broken/reset-mid-body', '/broken/short-chunked'])(
    '%s: the client connection is closed, not left hanging, and the next request is fine',
    async (path) => {
      const ex = rawExchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      let received = '';
      ex.socket.on('data', (c: Buffer) => {
        received += c.toString();
      });
      expect(await ex.closed(3_000)).toBe(true);
      expect(received).toMatch(/^HTTP\/1\.1 200/);
      // A truncated body must look truncated: no terminating chunk, never a clean end.
      expect(received).not.toContain('\r\n0\r\n\r\n');
      await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
      await stillServing();
    },
  );
});

describe('pipelined garbage', () => {
  it('after a response has started: the streamed body arrives whole, then the connection closes', async () => {
    const ex = rawExchange(gw.port, 'GET /broken/stream HTTP/1.1\r\nHost: a\r\n\r\n');
    let received = '';
    ex.socket.on('data', (c: Buffer) => {
      received += c.toString();
    });
    await waitFor(() => received.includes('data: 1'), 3_000, 'the first event');
    ex.socket.write('NOT A REQUEST\r\n\r\n');
    expect(await ex.closed(3_000)).toBe(true);
    expect(received).toContain('data: 2\n\n');
    expect(received).toMatch(/\r\n0\r\n\r\n$/);
    expect(received).not.toContain('HTTP/1.1 400');
  });

  it('before the first response: that response is sent whole, with Connection: close, and nothing else', async () => {
    const ex = rawExchange(gw.port, 'GET /broken/stream HTTP/1.1\r\nHost: a\r\n\r\nNOT A REQUEST\r\n\r\n');
    let received = '';
    ex.socket.on('data', (c: Buffer) => {
      received += c.toString();
    });
    expect(await ex.closed(3_000)).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(received).toMatch(/data: 2\n\n\r\n0\r\n\r\n$/);
    expect(received.match(/HTTP\/1\.1/g)).toHaveLength(1);
  });

  it('a malformed chunk in the body being forwarded is 400 and aborts the upstream request', async () => {
    const ex = rawExchange(
      gw.port,
      'POST /broken/body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    );
    await sleep(100);
    ex.socket.write('zz\r\n');
    expectEnvelope(await ex.response, 400, 'bad_request');
    expect(await ex.closed()).toBe(true);
    await waitFor(() => bodyAborts.includes('/broken/body'), 3_000, 'the upstream to see the abort');
    await waitFor(() => gw.inFlight() === 0, 3_000, 'in-flight count to drop');
  });
});
