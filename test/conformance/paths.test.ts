// Request targets that two servers could read differently, sent as raw bytes: dot segments raw and
// encoded, encoded and double-encoded slashes and backslashes, `//` prefixes, absolute-form, `;`, `#`
// and `?` tricks, overlong UTF-8, NUL and controls, method spelling, HEAD and OPTIONS. A refused target
// never reaches the upstream; an accepted one arrives byte for byte as the path that was matched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream } from '../support/upstreams.js';
import {
  converse,
  expectRawEnvelope,
  type RecordingUpstream,
  since,
  startGateway,
  type TestGateway,
} from './support.js';

let up: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startRecordingUpstream();
  gw = await startGateway(`
routes:
  - { name: public, path: /public, upstream: "${up.origin}", auth: public }
  - { name: secure, path: /secure, upstream: "${up.origin}", auth: required }
  - { name: strip, path: /strip, upstream: "${up.origin}", auth: public, strip_prefix: true }
  - { name: get-only, path: /get-only, upstream: "${up.origin}", auth: public, methods: [GET] }
  - { name: shop, path: "/shop/€", upstream: "${up.origin}", auth: public }
`);
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

type Expect =
  /** Forwarded once, as exactly this method and target. */
  | { fwd: string; method?: string }
  /** The gateway's own envelope; nothing forwarded. */
  | { err: [number, string] }
  /** HTTP-level garbage: 400 (Node's parser or ours), connection closed, nothing forwarded. */
  | { garbage: true };

const BAD: Expect = { err: [400, 'bad_path'] };
const NOT_FOUND: Expect = { err: [404, 'route_not_found'] };
const same = (target: string): Expect => ({ fwd: target });

async function send(method: string, target: string | Buffer): Promise<Awaited<ReturnType<typeof converse>>> {
  const line = Buffer.concat([
    Buffer.from(`${method} `),
    Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
    Buffer.from(' HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n'),
  ]);
  return converse(gw.port, line, { waitMs: 2_000, head: method === 'HEAD' });
}

async function check(method: string, target: string | Buffer, expected: Expect): Promise<void> {
  const mark = up.requests.length;
  const conv = await send(method, target);
  const seen = since(up, mark);
  if ('fwd' in expected) {
    expect(conv.responses[0]?.status, conv.raw.slice(0, 300)).toBe(200);
    expect(seen.map((r) => [r.method, r.url])).toEqual([[expected.method ?? method, expected.fwd]]);
  } else if ('err' in expected) {
    expectRawEnvelope(conv.responses[0], ...expected.err);
    expect(seen).toEqual([]);
  } else {
    expect(conv.responses[0]?.status, conv.raw.slice(0, 300)).toBe(400);
    expect(conv.closed).toBe(true);
    expect(seen).toEqual([]);
  }
}

const dotSegments: Array<[string, Expect]> = [
  ['/public/..', BAD],
  ['/public/../secure/x', BAD],
  ['/public/./x', BAD],
  ['/public/.', BAD],
  ['/./public/x', BAD],
  ['/..', BAD],
  ['/public/a/../../secure/x', BAD],
  ...['%2e', '%2E'].map((e): [string, Expect] => [`/public/${e}/x`, BAD]),
  ...['%2e%2e', '%2E%2E', '%2e%2E', '%2E%2e', '.%2e', '.%2E', '%2e.', '%2E.'].map((e): [string, Expect] => [
    `/public/${e}/secure/x`,
    BAD,
  ]),
  ['/public/.;/x', BAD],
  ['/public/..;/secure', BAD],
  ['/public/%2e%2e;/secure', BAD],
  ['/public/...', same('/public/...')],
  ['/public/.x', same('/public/.x')],
  ['/public/x.', same('/public/x.')],
  ['/public/..x', same('/public/..x')],
];

const slashes: Array<[string, Expect]> = [
  ...['%2f', '%2F', '%5c', '%5C'].map((e): [string, Expect] => [`/public${e}x`, BAD]),
  ['/public/a%2f..%2fsecure', BAD],
  ['/public/%2e%2e%2fsecure', BAD],
  ...['%252f', '%252F', '%255c', '%252e%252e', '%25', '%2525'].map((e): [string, Expect] => [
    `/public/${e}/x`,
    BAD,
  ]),
  ['/public\\..\\secure', BAD],
  ['/public/a\\b', BAD],
  ['//public/x', BAD],
  ['//evil.example/public/x', BAD],
  ['///public', BAD],
  ['/public//x', BAD],
  ['/public/x//', BAD],
  ['//', BAD],
  ['/\\evil.example/x', BAD],
  ['/%5cevil.example/x', BAD],
  ['/public/%', BAD],
  ['/public/%2', BAD],
  ['/public/%zz', BAD],
  ['/public/%u002e%u002e/x', BAD],
  ['/public/%%32%66', BAD],
];

const forms: Array<[string, string, Expect]> = [
  ['GET', 'http://gw.test/public/x', BAD],
  ['GET', 'HTTP://gw.test/public/x', BAD],
  ['GET', 'http://evil.example/public/x', BAD],
  ['GET', 'https://gw.test/public/x', BAD],
  ['GET', 'public/x', { garbage: true }],
  ['GET', '*', BAD],
  ['OPTIONS', '*', BAD],
  ['GET', '/public;x=1', BAD],
  ['GET', '/public/a;jsessionid=1', BAD],
  ['GET', '/secure;/x', BAD],
  ['GET', '/public/%3b', BAD],
  ['GET', '/public/%3B/x', BAD],
  ['GET', '/public/x#frag', BAD],
  ['GET', '/public#/../secure', BAD],
  ['GET', '/secure#', BAD],
  ['GET', '/public?x#y', BAD],
  ['GET', '/public/%23', same('/public/%23')],
  ['GET', '/public?/../secure', same('/public?/../secure')],
  ['GET', '/secure?/public', { err: [401, 'missing_token'] }],
  ['GET', '/public/%3f/x', same('/public/%3f/x')],
  ['GET', '/public?', same('/public?')],
  ['GET', '/public??x=1', same('/public??x=1')],
  ['GET', '/public?a=%00&b=%2e%2e%2f', same('/public?a=%00&b=%2e%2e%2f')],
  // The query is never matched and is forwarded as sent; only bytes that break a request line are refused.
  ['GET', '/public?a=\\b', same('/public?a=\\b')],
];

const encodings: Array<[string, Expect]> = [
  ...['%c0%ae%c0%ae', '%c0%af', '%e0%80%ae', '%f0%80%80%ae', '%c1%9c', '%c0%80', '%c1%bf'].map(
    (e): [string, Expect] => [`/public/${e}/x`, BAD],
  ),
  ...['%ed%a0%80', '%f4%90%80%80', '%ff', '%c3', '%80', '%e2%82'].map((e): [string, Expect] => [
    `/public/${e}`,
    BAD,
  ]),
  ...['%ef%bc%8f', '%ef%bc%bc', '%e2%80%a5', '%ef%bc%8e%ef%bc%8e', '%ef%bc%9b'].map((e): [string, Expect] => [
    `/public/${e}/x`,
    BAD,
  ]),
  ...['%00', '%0a', '%0d%0a', '%09', '%7f', '%c2%85', '%1b'].map((e): [string, Expect] => [
    `/public/a${e}b`,
    BAD,
  ]),
  ['/public/caf%C3%A9', same('/public/caf%C3%A9')],
  ['/public/%E2%82%AC', same('/public/%E2%82%AC')],
  ['/shop/%E2%82%AC/item', same('/shop/%E2%82%AC/item')],
  ['/shop/%e2%82%ac', same('/shop/%e2%82%ac')],
  ['/%70ublic/x', same('/%70ublic/x')],
  ['/pub%6Cic', same('/pub%6Cic')],
  ['/%73ecure/x', { err: [401, 'missing_token'] }],
  ['/secur%65/x', { err: [401, 'missing_token'] }],
  ['/SECURE/x', NOT_FOUND],
  ['/Public/x', NOT_FOUND],
  ['/public%20x', NOT_FOUND],
  ['/publicx', NOT_FOUND],
  ['/public.json', NOT_FOUND],
  ['/public~', NOT_FOUND],
  ['/public/%7e', same('/public/%7e')],
];

const stripping: Array<[string, Expect]> = [
  ['/strip', same('/')],
  ['/strip/', same('/')],
  ['/strip/a/b?q=1', same('/a/b?q=1')],
  ['/strip/%61', same('/%61')],
  ['/str%69p/a', same('/a')],
  ['/strip?x=1', same('/?x=1')],
  ['/stripx', NOT_FOUND],
  ['/strip/../secure', BAD],
  ['/strip/%2e%2e/secure', BAD],
  ['/strip//secure', BAD],
];

const ownEndpoints: Array<[string, string, Expect]> = [
  ['POST', '/api/auth/login/../register', BAD],
  ['POST', '/api/auth/%2e%2e/auth/login', BAD],
  ['GET', '/api/users/me/x', NOT_FOUND], // decided by the router, before any token is asked for
  ['GET', '/api/users/me;x', BAD],
  ['GET', '/.well-known/jwks.json/../x', BAD],
  ['GET', '/.well-known/jwks.json;x', BAD],
  ['GET', '/api/auth/login', { err: [405, 'method_not_allowed'] }],
];

describe('dot segments', () => {
  it.each(dotSegments)('GET %s', (target, expected) => check('GET', target, expected));
});

describe('encoded and doubled slashes and backslashes', () => {
  it.each(slashes)('GET %s', (target, expected) => check('GET', target, expected));
});

describe('request-target forms, path parameters, fragments and queries', () => {
  it.each(forms)('%s %s', (method, target, expected) => check(method, target, expected));
});

describe('UTF-8, controls and percent-encoded route names', () => {
  it.each(encodings)('GET %s', (target, expected) => check('GET', target, expected));
});

describe('strip_prefix forwards the rest of the same bytes', () => {
  it.each(stripping)('GET %s', (target, expected) => check('GET', target, expected));
});

describe("the gateway's own endpoints", () => {
  it.each(ownEndpoints)('%s %s', (method, target, expected) => check(method, target, expected));
});

describe('raw bytes in the request line', () => {
  it.each<[string, Buffer]>([
    ['NUL', Buffer.from('/public/a\u0000b', 'latin1')],
    ['TAB', Buffer.from('/public/a\tb', 'latin1')],
    ['raw UTF-8 é', Buffer.from('/public/café', 'utf8')],
    ['raw latin-1 é', Buffer.from('/public/caf\u00e9', 'latin1')],
    ['DEL', Buffer.from('/public/a\u007fb', 'latin1')],
    ['a bare CR', Buffer.from('/public/a\rb', 'latin1')],
  ])('%s in the target → 400, closed or not forwarded', async (_name, target) => {
    const mark = up.requests.length;
    const conv = await send('GET', target);
    expect(conv.responses[0]?.status).toBe(400);
    expect(since(up, mark)).toEqual([]);
  });
});

describe('methods', () => {
  it.each<[string, string, Expect]>([
    ['get', '/public/x', { garbage: true }],
    ['Get', '/public/x', { garbage: true }],
    ['FOO', '/public/x', { garbage: true }],
    ['G ET', '/public/x', { garbage: true }],
    ['GET', '/public/x', same('/public/x')],
    ['DELETE', '/public/x', same('/public/x')],
    ['OPTIONS', '/public/x', same('/public/x')],
    ['PATCH', '/public/x', same('/public/x')],
    ['GET', '/get-only/x', same('/get-only/x')],
    ['POST', '/get-only/x', { err: [405, 'method_not_allowed'] }],
    ['OPTIONS', '/get-only/x', { err: [405, 'method_not_allowed'] }],
    ['PUT', '/get-only', { err: [405, 'method_not_allowed'] }],
  ])('%s %s', (method, target, expected) => check(method, target, expected));

  it('HEAD on a GET route is forwarded as HEAD (RFC 9110 §9.3.2), with no body back', async () => {
    await check('HEAD', '/get-only/h', same('/get-only/h'));
  });

  it('405 names what the route allows: Allow: GET, HEAD', async () => {
    const conv = await send('POST', '/get-only/x');
    expect(conv.responses[0]?.headers.allow).toBe('GET, HEAD');
  });

  it('an HTTP/2 prior-knowledge preface is refused and never forwarded', async () => {
    const mark = up.requests.length;
    const conv = await converse(gw.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { waitMs: 1_000 });
    expectRawEnvelope(conv.responses[0], 400, 'bad_request');
    expect(conv.closed).toBe(true);
    expect(since(up, mark)).toEqual([]);
  });

  it('CONNECT (authority-form) is 400 bad_path like every non-origin-form target, and closed', async () => {
    const mark = up.requests.length;
    const conv = await converse(gw.port, 'CONNECT gw.test:443 HTTP/1.1\r\nHost: gw.test:443\r\n\r\n', {
      waitMs: 1_000,
    });
    expectRawEnvelope(conv.responses[0], 400, 'bad_path');
    expect(conv.closed).toBe(true);
    expect(since(up, mark)).toEqual([]);
  });

  it('an unsupported HTTP version is refused and never forwarded', async () => {
    const mark = up.requests.length;
    const conv = await converse(gw.port, 'GET /public/v HTTP/9.9\r\nHost: gw.test\r\n\r\n', {
      waitMs: 1_000,
    });
    expectRawEnvelope(conv.responses[0], 400, 'bad_request');
    expect(conv.closed).toBe(true);
    expect(since(up, mark)).toEqual([]);
  });

  it('HTTP/1.0 with a Host is forwarded once; without one it is 400 bad_request', async () => {
    const mark = up.requests.length;
    const ok = await converse(gw.port, 'GET /public/h10 HTTP/1.0\r\nHost: gw.test\r\n\r\n');
    expect(ok.responses[0]?.status).toBe(200);
    const bad = await converse(gw.port, 'GET /public/h10b HTTP/1.0\r\n\r\n');
    expectRawEnvelope(bad.responses[0], 400, 'bad_request');
    expect(since(up, mark).map((r) => r.url)).toEqual(['/public/h10']);
  });
});

describe('long targets', () => {
  it('a 10 KB segment is forwarded byte for byte', async () => {
    const target = `/public/${'a'.repeat(10_000)}`;
    await check('GET', target, same(target));
  });

  it('2,000 segments are forwarded byte for byte', async () => {
    const target = `/public${'/s'.repeat(2_000)}`;
    await check('GET', target, same(target));
  });

  it('a 20 KB target → 431 headers_too_large, closed, never forwarded', async () => {
    const mark = up.requests.length;
    const conv = await send('GET', `/public/${'a'.repeat(20_000)}`);
    expectRawEnvelope(conv.responses[0], 431, 'headers_too_large');
    expect(conv.closed).toBe(true);
    expect(since(up, mark)).toEqual([]);
  });
});
