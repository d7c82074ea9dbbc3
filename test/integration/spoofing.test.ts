// Header spoofing through the real gateway: forwarded metadata believed only from trusted proxies,
// identity headers stripped in every spelling, Connection can't remove ours, request ids screened,
// and Host/header-size garbage refused. Raw sockets, so the client's bytes arrive exactly as written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHeaderName } from '../../gateway/upstream/headers.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type Recorded, type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { expectEnvelope, rawExchange } from './helpers.js';

const TRUSTED = '127.0.0.2';
const UNTRUSTED = '127.0.0.3';

let gw: TestGateway;
let up: RecordingUpstream;

beforeAll(async () => {
  up = await startRecordingUpstream();
  gw = await startTestGateway(
    `
rate_limits: { global: { anonymous: 100000/h } }
routes:
  - { name: open, path: /open, upstream: "${up.origin}", auth: public }
identity_headers:
  user_id: X-Remote-User
  email: X-Remote-Email
  roles: X-Remote-Roles
  session_id: X-Remote-Session
  assertion: X-Remote-Assertion
`,
    { base: { server: `trusted_proxies: [${TRUSTED}]` } },
  );
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

let seq = 0;

/** Sends a GET with `headers` (raw lines) from `from` and returns what the upstream received. */
async function through(
  headers: string,
  from?: string,
): Promise<{ seen: Recorded; responseId: string | undefined }> {
  const path = `/open/r${++seq}`;
  const ex = rawExchange(
    gw.port,
    `GET ${path} HTTP/1.1\r\nHost: app.test:8443\r\n${headers}Connection: close\r\n\r\n`,
    {
      localAddress: from,
    },
  );
  const res = await ex.response;
  expect(res.status).toBe(200);
  const seen = up.requests.find((r) => r.url === path);
  if (seen === undefined) throw new Error(`upstream did not receive ${path}`);
  return { seen, responseId: res.headers['x-request-id'] };
}

/** Every value the upstream got under names whose canonical form is `name`. */
function valuesOf(seen: Recorded, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2)
    if (canonicalHeaderName(seen.rawHeaders[i]!) === name) out.push(seen.rawHeaders[i + 1]!);
  return out;
}

describe('X-Forwarded-* trust', () => {
  it.each([
    ['no client header, untrusted peer', '', UNTRUSTED, UNTRUSTED],
    ['untrusted peer', 'X-Forwarded-For: 1.2.3.4\r\n', UNTRUSTED, UNTRUSTED],
    ['untrusted peer on the default address', 'X-Forwarded-For: 1.2.3.4\r\n', undefined, '127.0.0.1'],
    ['trusted peer', 'X-Forwarded-For: 1.2.3.4\r\n', TRUSTED, `1.2.3.4, ${TRUSTED}`],
    // Right to left: only the hop the trusted proxy itself added is believed; 6.6.6.6 was the client's.
    [
      'trusted peer, spoofed left hop',
      'X-Forwarded-For: 6.6.6.6, 5.5.5.5\r\n',
      TRUSTED,
      `5.5.5.5, ${TRUSTED}`,
    ],
    ['trusted chain', `X-Forwarded-For: 9.9.9.9, ${TRUSTED}\r\n`, TRUSTED, `9.9.9.9, ${TRUSTED}, ${TRUSTED}`],
    [
      'split over two headers',
      'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 5.5.5.5\r\n',
      TRUSTED,
      `5.5.5.5, ${TRUSTED}`,
    ],
    ['garbage hop ends the walk', 'X-Forwarded-For: 1.2.3.4, unknown\r\n', TRUSTED, TRUSTED],
  ])('%s', async (_name, headers, from, expected) => {
    const { seen } = await through(headers, from);
    expect(valuesOf(seen, 'x-forwarded-for')).toEqual([expected]);
  });

  it('the client IP in the access log is the rightmost untrusted hop', async () => {
    await through('X-Forwarded-For: 6.6.6.6, 5.5.5.5\r\n', TRUSTED);
    const line = gw.logs.findLast((l) => l.msg === 'request');
    expect(line?.ip).toBe('5.5.5.5');
  });

  it('X-Forwarded-Proto and -Host are believed from a trusted peer only', async () => {
    const spoof = 'X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n';
    const untrusted = (await through(spoof, UNTRUSTED)).seen;
    expect(valuesOf(untrusted, 'x-forwarded-proto')).toEqual(['http']);
    expect(valuesOf(untrusted, 'x-forwarded-host')).toEqual(['app.test:8443']);
    const trusted = (await through(spoof, TRUSTED)).seen;
    expect(valuesOf(trusted, 'x-forwarded-proto')).toEqual(['https']);
    expect(valuesOf(trusted, 'x-forwarded-host')).toEqual(['evil.test']);
  });

  it('other X-Forwarded-* headers from the client are dropped', async () => {
    const { seen } = await through(
      'X-Forwarded-Port: 1\r\nX-Forwarded-Prefix: /admin\r\nX-Forwarded-User: root\r\n',
      TRUSTED,
    );
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map(canonicalHeaderName);
    expect(names.filter((n) => n.startsWith('x-forwarded-')).sort()).toEqual([
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
    ]);
  });

  it.each([
    'Forwarded: for=6.6.6.6;proto=https',
    'X-Real-IP: 6.6.6.6',
    'X-Client-IP: 6.6.6.6',
    'True-Client-IP: 6.6.6.6',
  ])('%s is stripped, even from a trusted peer', async (header) => {
    const { seen } = await through(`${header}\r\n`, TRUSTED);
    expect(valuesOf(seen, canonicalHeaderName(header.split(':')[0]!))).toEqual([]);
  });
});

describe('identity headers', () => {
  const names = [
    'X-User-Id',
    'X-User-Email',
    'X-User-Roles',
    'X-Session-Id',
    'X-Auth-Assertion',
    'X-Remote-User',
    'X-Remote-Email',
    'X-Remote-Roles',
    'X-Remote-Session',
    'X-Remote-Assertion',
  ];
  it.each(names)('every spelling of %s is stripped on a public route', async (name) => {
    const spellings = [
      name,
      name.toLowerCase(),
      name.toUpperCase(),
      name.replaceAll('-', '_'),
      name.toLowerCase().replaceAll('-', '_'),
    ];
    const { seen } = await through(spellings.map((s, i) => `${s}: forged-${i}\r\n`).join(''));
    expect(valuesOf(seen, canonicalHeaderName(name))).toEqual([]);
    expect(JSON.stringify(seen.rawHeaders)).not.toContain('forged');
  });

  it('a header name with a space before the colon is 400 bad_request, never forwarded', async () => {
    const before = up.requests.length;
    const ex = rawExchange(
      gw.port,
      'GET /open/space HTTP/1.1\r\nHost: app.test\r\nX-User-Id : admin\r\n\r\n',
    );
    expectEnvelope(await ex.response, 400, 'bad_request');
    expect(await ex.closed()).toBe(true);
    expect(up.requests.length).toBe(before);
  });
});

describe('Connection header', () => {
  it('cannot remove our own headers', async () => {
    const { seen, responseId } = await through(
      'Connection: X-Request-Id, X-User-Id, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Host, Content-Length\r\nX-Request-Id: keep.me\r\n',
    );
    expect(valuesOf(seen, 'x-request-id')).toEqual(['keep.me']);
    expect(responseId).toBe('keep.me');
    expect(valuesOf(seen, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(valuesOf(seen, 'x-forwarded-proto')).toEqual(['http']);
    expect(valuesOf(seen, 'x-forwarded-host')).toEqual(['app.test:8443']);
    expect(valuesOf(seen, 'host')).toEqual(['app.test:8443']);
  });

  it('removes the client headers it names, and itself', async () => {
    const { seen } = await through('Connection: X-Custom-Hop\r\nX-Custom-Hop: 1\r\nX-Kept: 2\r\n');
    expect(valuesOf(seen, 'x-custom-hop')).toEqual([]);
    expect(valuesOf(seen, 'x-kept')).toEqual(['2']);
  });

  it.each(['close', 'Close', 'keep-alive', 'Keep-Alive'])(
    'the common value `Connection: %s` still removes the fields it names',
    async (value) => {
      const raw = `GET /open/common-${value} HTTP/1.1\r\nHost: app.test\r\nConnection: ${value}\r\nClose: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: 2\r\n\r\n`;
      const res = await rawExchange(gw.port, raw).response;
      expect(res.status).toBe(200);
      const seen = up.requests.find((r) => r.url === `/open/common-${value}`)!;
      expect(valuesOf(seen, 'keep-alive')).toEqual([]);
      expect(valuesOf(seen, 'close')).toEqual(value.toLowerCase() === 'close' ? [] : ['1']);
      expect(valuesOf(seen, 'x-kept')).toEqual(['2']);
    },
  );
});

describe('X-Request-Id', () => {
  it.each(['abc', 'A-Z.a_z-0.9', 'x'.repeat(128)])('the safe id %s is kept', async (id) => {
    const { seen, responseId } = await through(`X-Request-Id: ${id}\r\n`);
    expect(valuesOf(seen, 'x-request-id')).toEqual([id]);
    expect(responseId).toBe(id);
  });

  it.each([
    ['too long', 'x'.repeat(129)],
    ['a space', 'a b'],
    ['markup', '<script>'],
    ['a comma', 'a,b'],
    ['a slash', 'a/b'],
    ['a CRLF-like escape', 'a%0d%0aSet-Cookie:x'],
    ['non-ASCII', 'idé'],
  ])('an id with %s is replaced', async (_what, id) => {
    const { seen, responseId } = await through(`X-Request-Id: ${id}\r\n`);
    const sent = valuesOf(seen, 'x-request-id');
    expect(sent).toHaveLength(1);
    expect(sent[0]).not.toBe(id);
    expect(sent[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(responseId).toBe(sent[0]);
  });

  it('two X-Request-Id headers are replaced by one of ours', async () => {
    const { seen } = await through('X-Request-Id: one\r\nX-Request-Id: two\r\n');
    const sent = valuesOf(seen, 'x-request-id');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('Host and header garbage', () => {
  it.each([
    ['two Host headers', 'GET /open/x HTTP/1.1\r\nHost: app.test\r\nHost: admin.internal\r\n\r\n'],
    ['no Host header', 'GET /open/x HTTP/1.1\r\n\r\n'],
    ['no Host header on HTTP/1.0', 'GET /open/x HTTP/1.0\r\n\r\n'],
    ['an empty Host header', 'GET /open/x HTTP/1.1\r\nHost:\r\n\r\n'],
    ['a malformed Host header', 'GET /open/x HTTP/1.1\r\nHost: a..b:99999\r\n\r\n'],
    [
      'Content-Length and Transfer-Encoding together',
      'POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['a bare LF line ending', 'GET /open/x HTTP/1.1\nHost: a\n\n'],
  ])('%s is 400 bad_request and the connection closes', async (_what, request) => {
    const before = up.requests.length;
    const ex = rawExchange(gw.port, request);
    expectEnvelope(await ex.response, 400, 'bad_request');
    expect(await ex.closed()).toBe(true);
    expect(up.requests.length).toBe(before);
  });

  it('oversized headers are 431 headers_too_large in the envelope', async () => {
    const ex = rawExchange(
      gw.port,
      `GET /open/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
    );
    expectEnvelope(await ex.response, 431, 'headers_too_large');
    expect(await ex.closed()).toBe(true);
  });
});
