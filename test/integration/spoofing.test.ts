// Header spoofing through the real gateway: forwarded metadata believed only from trusted proxies,
// identity headers stripped in every spelling, Connection can't remove ours, request ids screened,
// and Host/header-size garbage refused. Raw sockets, so the client's bytes arrive exactly as written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHeaderName } from '../../gateway/upstream/headers.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type Recorded, type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { expectEnvelope, http, rawExchange, waitFor } from './helpers.js';

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
    // Formats some proxies write: the port is dropped, the address believed like any other hop.
    ['an IPv4 hop with a port', 'X-Forwarded-For: 1.2.3.4:5555\r\n', TRUSTED, `1.2.3.4, ${TRUSTED}`],
    [
      'a bracketed IPv6 hop with a port',
      'X-Forwarded-For: [2001:db8::1]:80\r\n',
      TRUSTED,
      `2001:db8::1, ${TRUSTED}`,
    ],
    // Rebuilt in one spelling (RFC 5952), the one its limits and locks are kept under.
    ['a bracketed IPv6 hop', 'X-Forwarded-For: [2001:DB8::1]\r\n', TRUSTED, `2001:db8::1, ${TRUSTED}`],
    ['an IPv6 hop spelled long', 'X-Forwarded-For: 2001:0db8:0:0::1\r\n', TRUSTED, `2001:db8::1, ${TRUSTED}`],
    [
      'a mapped IPv4 hop in hex',
      'X-Forwarded-For: ::ffff:c633:6407\r\n',
      TRUSTED,
      `198.51.100.7, ${TRUSTED}`,
    ],
    [
      'a mapped IPv4 hop in brackets',
      'X-Forwarded-For: [::ffff:1.2.3.4]:80\r\n',
      TRUSTED,
      `1.2.3.4, ${TRUSTED}`,
    ],
    // Without brackets an IPv6 address cannot carry a port: this is the address 2001:db8::1:80.
    ['an unbracketed IPv6', 'X-Forwarded-For: 2001:db8::1:80\r\n', TRUSTED, `2001:db8::1:80, ${TRUSTED}`],
    [
      'ports on a trusted chain',
      `X-Forwarded-For: 9.9.9.9:1, ${TRUSTED}:2\r\n`,
      TRUSTED,
      `9.9.9.9, ${TRUSTED}, ${TRUSTED}`,
    ],
    // Still garbage: each ends the walk at the nearest trusted hop.
    ['a port out of range', 'X-Forwarded-For: 1.2.3.4:65536\r\n', TRUSTED, TRUSTED],
    ['an empty port', 'X-Forwarded-For: 1.2.3.4:\r\n', TRUSTED, TRUSTED],
    ['an IPv4 in brackets', 'X-Forwarded-For: [1.2.3.4]:80\r\n', TRUSTED, TRUSTED],
    ['an IPv4 with two ports', 'X-Forwarded-For: 1.2.3.4:80:80\r\n', TRUSTED, TRUSTED],
    ['text after the brackets', 'X-Forwarded-For: [2001:db8::1]x\r\n', TRUSTED, TRUSTED],
    ['an obfuscated RFC 7239 node', 'X-Forwarded-For: _hidden\r\n', TRUSTED, TRUSTED],
    ['a host name', 'X-Forwarded-For: client.example\r\n', TRUSTED, TRUSTED],
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

  it.each([
    ['HTTPS', 'https'],
    ['Http', 'http'],
    [' https ', 'https'],
    ['ftp', 'http'],
  ])('X-Forwarded-Proto %j from a trusted peer is forwarded as %s', async (sent, expected) => {
    const { seen } = await through(`X-Forwarded-Proto: ${sent}\r\n`, TRUSTED);
    expect(valuesOf(seen, 'x-forwarded-proto')).toEqual([expected]);
  });

  it.each(['app.example:8443', 'APP.example', '[2001:db8::1]:8443', '192.0.2.7', 'a.test, b.test:81'])(
    'a valid X-Forwarded-Host %j from a trusted peer is forwarded (its last value), as sent',
    async (sent) => {
      const { seen } = await through(`X-Forwarded-Host: ${sent}\r\n`, TRUSTED);
      expect(valuesOf(seen, 'x-forwarded-host')).toEqual([sent.split(',').pop()!.trim()]);
    },
  );

  it.each([
    'evil.com/path?x',
    'a b',
    'user@evil.com',
    'evil.com:99999',
    '[::1',
    'a..b',
    'app.test, evil.com#',
  ])(
    'a malformed X-Forwarded-Host %j from a trusted peer is 400 bad_request, never forwarded',
    async (sent) => {
      const before = up.requests.length;
      const res = await rawExchange(
        gw.port,
        `GET /open/xfh HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Host: ${sent}\r\nConnection: close\r\n\r\n`,
        { localAddress: TRUSTED },
      ).response;
      expectEnvelope(res, 400, 'bad_request');
      expect(up.requests.length).toBe(before);
    },
  );

  it('a malformed X-Forwarded-Host from an untrusted peer is ignored like any other', async () => {
    const { seen } = await through('X-Forwarded-Host: evil.com/path?x\r\n', UNTRUSTED);
    expect(valuesOf(seen, 'x-forwarded-host')).toEqual(['app.test:8443']);
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

describe('Proxy-* headers', () => {
  it('every request header whose canonical name starts with proxy- is stripped', async () => {
    const { seen } = await through(
      'Proxy-Foo: 1\r\nPROXY-BAR: 2\r\nproxy_baz: 3\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nProxyish: 4\r\nX-Proxy-Kept: 5\r\n',
    );
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map(canonicalHeaderName);
    expect(names.filter((n) => n.startsWith('proxy-'))).toEqual([]);
    expect(valuesOf(seen, 'proxyish')).toEqual(['4']);
    expect(valuesOf(seen, 'x-proxy-kept')).toEqual(['5']);
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

  it('a request refused by the HTTP parser gets an X-Request-Id, an access line and a count', async () => {
    const metric = async (): Promise<number> => {
      const text = (await http(`${gw.adminUrl}/metrics`)).body.toString();
      const m = /^portcullis_http_requests_total\{route="unmatched",status="431"\} (\S+)$/m.exec(text);
      return Number(m?.[1] ?? 0);
    };
    const before = await metric();
    const ex = rawExchange(
      gw.port,
      `GET /open/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
    );
    const res = await ex.response;
    expectEnvelope(res, 431, 'headers_too_large');
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => gw.logs.some((l) => l.msg === 'request' && l.reqId === id), 2_000, 'the access line');
    expect(gw.logs.find((l) => l.msg === 'request' && l.reqId === id)).toMatchObject({
      level: 'info',
      status: 431,
      code: 'headers_too_large',
      ip: '127.0.0.1',
    });
    expect(await metric()).toBe(before + 1);
  });
});
