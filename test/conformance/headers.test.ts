// Header attacks as raw bytes: every identity header in case, underscore and whitespace spellings and
// duplicated, Connection naming ours, forged forwarding metadata from untrusted and trusted peers
// (127.0.0.3 vs 127.0.0.2), path and method override headers, Host games, oversized and too many headers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin } from '../integration/accounts/support.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import {
  converse,
  expectRawEnvelope,
  head,
  type Recorded,
  type RecordingUpstream,
  since,
  startGateway,
  type TestGateway,
  TRUSTED,
  UA,
  UNTRUSTED,
  uniq,
  valuesOf,
} from './support.js';

let up: RecordingUpstream;
let gw: TestGateway;
let token: string;
let userId: string;

const CONFIGURED = [
  'X-Remote-User',
  'X-Remote-Email',
  'X-Remote-Roles',
  'X-Remote-Session',
  'X-Remote-Assertion',
];
const DEFAULTS = ['X-User-Id', 'X-User-Email', 'X-User-Roles', 'X-Session-Id', 'X-Auth-Assertion'];

beforeAll(async () => {
  up = await startRecordingUpstream();
  gw = await startGateway(
    `
routes:
  - { name: open, path: /open, upstream: "${up.origin}", auth: public }
  - { name: auth, path: /auth, upstream: "${up.origin}", auth: required }
  - { name: hosted, path: /hosted, host: app.test, upstream: "${up.origin}", auth: public }
identity_headers:
  user_id: X-Remote-User
  email: X-Remote-Email
  roles: X-Remote-Roles
  session_id: X-Remote-Session
  assertion: X-Remote-Assertion
`,
    { base: { server: `trusted_proxies: [${TRUSTED}]` } },
  );
  const login = await registerAndLogin(gw);
  token = login.pair.access;
  userId = login.id;
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

interface Sent {
  readonly status: number | undefined;
  readonly closed: boolean;
  readonly seen: Recorded[];
  readonly code: string | undefined;
}

/** One request from `from` with raw header `lines`; returns what the client and the upstream got. */
async function sendRaw(
  path: string,
  lines: readonly string[],
  options: { from?: string; host?: string; auth?: boolean } = {},
): Promise<Sent> {
  const mark = up.requests.length;
  const all = [
    `User-Agent: ${UA}`,
    ...(options.auth === true ? [`Authorization: Bearer ${token}`] : []),
    ...lines,
  ];
  const conv = await converse(
    gw.port,
    head('GET', path, [...all, 'Connection: close'], options.host ?? 'gw.test'),
    {
      ...(options.from === undefined ? {} : { localAddress: options.from }),
      waitMs: 2_000,
    },
  );
  const res = conv.responses[0];
  let code: string | undefined;
  try {
    code = res === undefined ? undefined : (JSON.parse(res.body.toString()) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return { status: res?.status, closed: conv.closed, seen: since(up, mark), code };
}

/** No header value the upstream got contains `marker`. */
function noClientValue(seen: Recorded, marker: string): void {
  const values = seen.rawHeaders.filter((_, i) => i % 2 === 1);
  expect(values.filter((v) => v.includes(marker))).toEqual([]);
}

const spellings: Array<[string, (name: string, value: string) => string[]]> = [
  ['as configured', (n, v) => [`${n}: ${v}`]],
  ['lower case', (n, v) => [`${n.toLowerCase()}: ${v}`]],
  ['upper case', (n, v) => [`${n.toUpperCase()}: ${v}`]],
  ['underscores', (n, v) => [`${n.replaceAll('-', '_')}: ${v}`]],
  ['mixed _ and -, odd case', (n, v) => [`${n.replace('-', '_').toLowerCase().replace('x', 'X')}: ${v}`]],
  ['no space after the colon', (n, v) => [`${n}:${v}`]],
  ['padded with spaces and tabs', (n, v) => [`${n}: \t ${v} \t`]],
  ['duplicated', (n, v) => [`${n}: ${v}`, `${n.toLowerCase()}: ${v}-2`]],
  ['an empty value', (n) => [`${n}:`]],
];

const identityCases: Array<[string, string, (name: string, value: string) => string[]]> = [];
for (const name of [...CONFIGURED, ...DEFAULTS])
  for (const [label, make] of spellings) identityCases.push([name, label, make]);

describe('identity headers from the client never reach the upstream', () => {
  it.each(identityCases)(
    '%s, %s: stripped on a public route, replaced by ours on an auth route',
    async (name, _l, make) => {
      const marker = uniq('EVIL');
      const open = await sendRaw(`/open/${marker}`, make(name, marker));
      expect(open.status).toBe(200);
      expect(open.seen).toHaveLength(1);
      expect(valuesOf(open.seen[0]!, name)).toEqual([]);
      noClientValue(open.seen[0]!, marker);

      const auth = await sendRaw(`/auth/${marker}`, make(name, marker), { auth: true });
      expect(auth.status).toBe(200);
      expect(auth.seen).toHaveLength(1);
      const ours = CONFIGURED.includes(name) ? 1 : 0;
      expect(valuesOf(auth.seen[0]!, name)).toHaveLength(ours);
      if (name === 'X-Remote-User') expect(valuesOf(auth.seen[0]!, name)).toEqual([userId]);
      noClientValue(auth.seen[0]!, marker);
    },
  );

  it.each<[string, string]>([
    ['a space before the colon', 'X-Remote-User : evil'],
    ['a tab before the colon', 'X-Remote-User\t: evil'],
    ['an obs-fold continuation of it', 'X-Other: a\r\n X-Remote-User: evil'],
    ['a line folded into it', 'X-Remote-User: a\r\n\tevil'],
    ['a non-ASCII look-alike dash', 'X\u2010Remote\u2010User: evil'],
    ['a NUL in the name', 'X-Remote\u0000User: evil'],
    ['a CR inside the value', 'X-Remote-User: a\rX-Remote-User: evil'],
  ])('%s → 400 bad_request, closed, never forwarded', async (_n, line) => {
    const res = await sendRaw('/auth/ws', [line], { auth: true });
    expect({ status: res.status, code: res.code, closed: res.closed }).toEqual({
      status: 400,
      code: 'bad_request',
      closed: true,
    });
    expect(res.seen).toEqual([]);
  });
});

describe('Connection cannot remove our headers', () => {
  it.each<[string, string]>([
    ['our user header', 'X-Remote-User'],
    ['all of ours', CONFIGURED.join(', ')],
    ['ours with underscores', 'x_remote_user, X_REMOTE_SESSION'],
    ['forwarding metadata', 'X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, X-Request-Id'],
    ['framing headers', 'close, Content-Length, Host'],
  ])('Connection naming %s → ours still arrive, once', async (_n, names) => {
    const res = await sendRaw('/auth/conn', [`Connection: ${names}`], { auth: true });
    expect(res.status).toBe(200);
    const seen = res.seen[0]!;
    expect(valuesOf(seen, 'x-remote-user')).toEqual([userId]);
    expect(valuesOf(seen, 'x-remote-session')).toHaveLength(1);
    expect(valuesOf(seen, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(valuesOf(seen, 'x-request-id')).toHaveLength(1);
    expect(valuesOf(seen, 'host')).toEqual(['gw.test']);
  });

  it('a header the client names in Connection is removed (RFC 9110 §7.6.1)', async () => {
    const res = await sendRaw('/open/conn', ['Connection: X-Hop', 'X-Hop: secret', 'X-Kept: yes']);
    expect(valuesOf(res.seen[0]!, 'x-hop')).toEqual([]);
    expect(valuesOf(res.seen[0]!, 'x-kept')).toEqual(['yes']);
  });
});

describe('forwarding metadata', () => {
  const forged = [
    'X-Forwarded-For: 6.6.6.6',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: evil.test',
    'Forwarded: for=6.6.6.6;proto=https;host=evil.test',
    'X-Real-IP: 6.6.6.6',
    'True-Client-IP: 6.6.6.6',
    'X-Client-IP: 6.6.6.6',
    'X-Forwarded-Port: 1',
    'X-Forwarded-Prefix: /admin',
    'X_Forwarded_For: 7.7.7.7',
  ];
  it.each<[string, string | undefined, Record<string, string[]>]>([
    [
      'untrusted peer',
      UNTRUSTED,
      {
        'x-forwarded-for': [UNTRUSTED],
        'x-forwarded-proto': ['http'],
        'x-forwarded-host': ['gw.test'],
        forwarded: [],
        'x-real-ip': [],
        'true-client-ip': [],
        'x-client-ip': [],
        'x-forwarded-port': [],
        'x-forwarded-prefix': [],
      },
    ],
    [
      'trusted peer',
      TRUSTED,
      {
        'x-forwarded-for': [`6.6.6.6, ${TRUSTED}`],
        'x-forwarded-proto': ['https'],
        'x-forwarded-host': ['evil.test'],
        forwarded: [],
        'x-real-ip': [],
        'true-client-ip': [],
        'x-client-ip': [],
        'x-forwarded-port': [],
        'x-forwarded-prefix': [],
      },
    ],
  ])('forged from an %s: rebuilt, not appended', async (_n, from, expected) => {
    const res = await sendRaw('/open/fwd', forged, { from });
    expect(res.status).toBe(200);
    const got: Record<string, string[]> = {};
    for (const name of Object.keys(expected)) got[name] = valuesOf(res.seen[0]!, name);
    expect(got).toEqual(expected);
    noClientValue(res.seen[0]!, '7.7.7.7');
  });

  it('the underscore spelling of X-Forwarded-For from a trusted peer is not believed', async () => {
    const res = await sendRaw('/open/us', ['X_Forwarded_For: 7.7.7.7'], { from: TRUSTED });
    expect(valuesOf(res.seen[0]!, 'x-forwarded-for')).toEqual([TRUSTED]);
  });

  it.each<[string, string]>([
    ['X-Original-URL', '/auth/admin'],
    ['X-Rewrite-URL', '/auth/admin'],
    ['X-Original-URI', '/auth/admin'],
    ['X-HTTP-Method-Override', 'DELETE'],
    ['X-HTTP-Method', 'DELETE'],
    ['X-Method-Override', 'DELETE'],
    ['x_http_method_override', 'DELETE'],
  ])('%s (overrides the matched path or method upstream) is stripped', async (name, value) => {
    const res = await sendRaw('/open/override', [`${name}: ${value}`]);
    expect(res.status).toBe(200);
    expect(valuesOf(res.seen[0]!, name)).toEqual([]);
  });
});

describe('X-Request-Id', () => {
  it.each<[string, string, boolean]>([
    ['a safe token', 'abc-123_X.y', true],
    ['128 characters', 'a'.repeat(128), true],
    ['129 characters', 'a'.repeat(129), false],
    ['a space', 'a b', false],
    ['percent-encoded CRLF', 'a%0d%0ab', false],
    ['a comma (two joined ids)', 'a,b', false],
  ])('%s: kept=%s, and the client and the upstream get the same single id', async (_n, value, kept) => {
    const res = await sendRaw('/open/rid', [`X-Request-Id: ${value}`]);
    const ids = valuesOf(res.seen[0]!, 'x-request-id');
    expect(ids).toHaveLength(1);
    expect(ids[0] === value).toBe(kept);
  });

  it('two X-Request-Id headers are replaced by one of ours', async () => {
    const res = await sendRaw('/open/rid2', ['X-Request-Id: aaa', 'X-Request-Id: bbb']);
    const ids = valuesOf(res.seen[0]!, 'x-request-id');
    expect(ids).toHaveLength(1);
    expect(ids[0]).not.toMatch(/^(aaa|bbb)$/);
  });
});

describe('Host games', () => {
  it.each<[string, string[], string]>([
    ['two Host headers', ['Host: app.test', 'Host: evil.test'], '/hosted/x'],
    ['two Host headers, different case', ['Host: app.test', 'host: app.test'], '/open/x'],
    ['no Host', [], '/open/x'],
    ['an empty Host', ['Host:'], '/open/x'],
    ['userinfo in Host', ['Host: user@app.test'], '/hosted/x'],
    ['Host with an @ after the name', ['Host: app.test@evil.test'], '/hosted/x'],
    ['Host with port and userinfo', ['Host: app.test:80@evil.test'], '/hosted/x'],
    ['a list of hosts', ['Host: app.test, evil.test'], '/hosted/x'],
    ['a path in Host', ['Host: app.test/x'], '/hosted/x'],
    ['a percent-escape in Host', ['Host: app.test%2f'], '/hosted/x'],
    ['an empty label', ['Host: app..test'], '/hosted/x'],
    ['two trailing dots', ['Host: app.test..'], '/hosted/x'],
    ['a port over 65535', ['Host: app.test:99999'], '/hosted/x'],
    ['a non-numeric port', ['Host: app.test:8o'], '/hosted/x'],
    ['an IPv6 zone id', ['Host: [::1%25eth0]'], '/open/x'],
    ['raw non-ASCII', ['Host: \u00e1pp.test'], '/hosted/x'],
  ])('%s → 400 bad_request, closed, never forwarded', async (_n, hosts, path) => {
    const mark = up.requests.length;
    const lines = [`GET ${path} HTTP/1.1`, ...hosts, 'Connection: keep-alive'];
    const conv = await converse(gw.port, Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), {
      waitMs: 2_000,
    });
    expectRawEnvelope(conv.responses[0], 400, 'bad_request');
    expect(conv.closed).toBe(true);
    expect(since(up, mark)).toEqual([]);
  });

  it.each<[string, string, string | null]>([
    ['upper case with a port', 'APP.TEST:8443', 'APP.TEST:8443'],
    ['one trailing dot', 'app.test.', 'app.test.'],
    ['an empty port', 'app.test:', 'app.test:'],
    ['another host', 'evil.test', null],
    ['a host that merely ends like it', 'evilapp.test', null],
    ['an IPv6 literal', '[::1]:8080', null],
  ])('Host %s on a host route: routed=%s, X-Forwarded-Host as sent', async (_n, host, forwardedHost) => {
    const res = await sendRaw('/hosted/h', [], { host });
    if (forwardedHost === null) {
      expect({ status: res.status, code: res.code }).toEqual({ status: 404, code: 'route_not_found' });
      expect(res.seen).toEqual([]);
    } else {
      expect(res.status).toBe(200);
      expect(valuesOf(res.seen[0]!, 'x-forwarded-host')).toEqual([forwardedHost]);
      expect(valuesOf(res.seen[0]!, 'host')).toEqual([host]);
    }
  });

  it.each([UNTRUSTED, TRUSTED])(
    'X-Forwarded-Host never routes (peer %s): Host evil.test stays 404',
    async (from) => {
      const res = await sendRaw('/hosted/xfh', ['X-Forwarded-Host: app.test'], { host: 'evil.test', from });
      expect({ status: res.status, code: res.code }).toEqual({ status: 404, code: 'route_not_found' });
      expect(res.seen).toEqual([]);
    },
  );

  it('absolute-form naming the host route while Host names another → 400 bad_path, never forwarded', async () => {
    const mark = up.requests.length;
    const conv = await converse(gw.port, 'GET http://app.test/hosted/x HTTP/1.1\r\nHost: evil.test\r\n\r\n');
    expectRawEnvelope(conv.responses[0], 400, 'bad_path');
    expect(since(up, mark)).toEqual([]);
  });
});

/** 431 headers_too_large, the connection closed, nothing forwarded. */
function expectTooLarge(res: Sent): void {
  expect({ status: res.status, code: res.code, closed: res.closed }).toEqual({
    status: 431,
    code: 'headers_too_large',
    closed: true,
  });
  expect(res.seen).toEqual([]);
}

describe('oversized and too many headers', () => {
  it('one 20 KB header → 431 headers_too_large, closed', async () => {
    const res = await sendRaw('/open/big', [`X-Big: ${'a'.repeat(20_000)}`]);
    expectTooLarge(res);
  });

  it('many small headers adding up to 17 KB → 431 headers_too_large, closed', async () => {
    const lines = Array.from({ length: 170 }, (_, i) => `X-H${i}: ${'b'.repeat(96)}`);
    const res = await sendRaw('/open/many', lines);
    expectTooLarge(res);
  });

  it('100 small headers are all forwarded', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `X-N${i}: ${i}`);
    const res = await sendRaw('/open/hundred', lines);
    expect(res.status).toBe(200);
    expect(res.seen[0]!.rawHeaders.filter((_, i) => i % 2 === 0 && /^X-N\d+$/.test(String(_))).length).toBe(
      100,
    );
  });

  it.each<[string, string]>([
    ['a second Host', 'Host: evil.test'],
    ['a second Authorization', `Authorization: Bearer ${'x'.repeat(10)}`],
    ['an identity header', 'X-Remote-User: evil'],
  ])(
    '2,100 headers hiding %s at the end → 431, never forwarded (nothing is silently dropped)',
    async (_n, last) => {
      const lines = [...Array.from({ length: 2_100 }, (_, i) => `a${i}:`), last];
      const res = await sendRaw('/open/hidden', lines, { auth: true });
      expectTooLarge(res);
    },
  );

  it('300 headers (more than the 256 allowed) → 431 headers_too_large, closed', async () => {
    const res = await sendRaw(
      '/open/300',
      Array.from({ length: 300 }, (_, i) => `h${i}: v`),
    );
    expectTooLarge(res);
  });
});
