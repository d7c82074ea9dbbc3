// Request smuggling as raw bytes: CL.TE, TE.CL, TE.TE obfuscations, duplicate and malformed
// Content-Length, chunk-size and chunk-extension games, trailers, bare LF and CR, obs-fold. Each case
// is either refused (400, connection closed, nothing forwarded) or forwarded as exactly ONE request;
// the request hidden inside it never reaches the upstream. Counted at the upstream and at the client.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${LEN} and ${S} are placeholders of the case table
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINED_MAX } from '../../gateway/server.js';
import { startRecordingUpstream } from '../support/upstreams.js';
import {
  converse,
  type RecordingUpstream,
  since,
  sleep,
  startGateway,
  type TestGateway,
  uniq,
  valuesOf,
} from './support.js';

let up: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  // `/pub/slow…` answers after 400 ms: requests pipelined behind it wait in the gateway.
  up = await startRecordingUpstream((req, res) => {
    if (!req.url!.startsWith('/pub/slow')) return false;
    setTimeout(() => res.end('slow'), 400);
    return true;
  });
  gw = await startGateway(`
routes:
  - { name: pub, path: /pub, upstream: "${up.origin}", auth: public }
  - { name: lim, path: /lim, upstream: "${up.origin}", auth: public, body_limit: 16b }
`);
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

/** A complete request that must never reach the upstream as a request of its own. */
const hidden = (id: string): string => `GET /pub/SMUGGLED-${id} HTTP/1.1\r\nHost: gw.test\r\n\r\n`;

type Outcome =
  /** 400 (Node's parser or ours), the connection closed, nothing forwarded. */
  | 'reject'
  /** Forwarded once with exactly this body; the client gets one response. */
  | { body: string }
  /** Refused like 'reject', or forwarded as one request; never two. */
  | 'either'
  /** Refused like 'reject', or forwarded once with exactly this body. */
  | { either: string };

interface Case {
  /** `head` gets the request line and Host prepended; `${S}` in it or in `body` is the hidden request. */
  readonly head: string;
  readonly body: string;
  readonly outcome: Outcome;
}

const S = '${S}';

function build(c: Case, id: string): string {
  const body = c.body.replaceAll(S, hidden(id));
  const lines = c.head.replaceAll(S, hidden(id)).replaceAll('${LEN}', String(Buffer.byteLength(body)));
  return `POST /pub/outer-${id} HTTP/1.1\r\nHost: gw.test\r\n${lines}\r\n${body}`;
}

async function run(c: Case): Promise<void> {
  const id = uniq();
  const mark = up.requests.length;
  // A second request (a desync) would be read right after the first answer: wait a moment for it.
  const conv = await converse(gw.port, Buffer.from(build(c, id), 'latin1'), {
    waitMs: 700,
    afterResponseMs: 150,
  });
  const seen = since(up, mark);
  expect(seen.filter((r) => r.url.includes('SMUGGLED'))).toEqual([]);
  expect(seen.length).toBeLessThanOrEqual(1);
  expect(conv.responses.length).toBeLessThanOrEqual(1);
  const status = conv.responses[0]?.status;
  if (c.outcome === 'reject' || status === 400) {
    expect({ status, closed: conv.closed, forwarded: seen.length }).toEqual({
      status: 400,
      closed: true,
      forwarded: 0,
    });
    return;
  }
  expect(c.outcome).not.toBe('reject');
  expect(status).toBe(200);
  expect(seen.map((r) => r.url)).toEqual([`/pub/outer-${id}`]);
  if (typeof c.outcome === 'object') {
    const body = 'body' in c.outcome ? c.outcome.body : c.outcome.either;
    expect(seen[0]!.body.toString('latin1')).toBe(body);
  }
  // Framing is ours towards the upstream: the client's framing headers never cross.
  expect(valuesOf(seen[0]!, 'transfer-encoding').filter((v) => v !== 'chunked')).toEqual([]);
}

const chunkedSmuggle = `0\r\n\r\n${S}`;

const clte: Array<[string, Case]> = [
  [
    'CL.TE: Content-Length then chunked',
    {
      head: 'Content-Length: ${LEN}\r\nTransfer-Encoding: chunked\r\n',
      body: chunkedSmuggle,
      outcome: 'reject',
    },
  ],
  [
    'TE.CL: chunked then Content-Length',
    {
      head: 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n',
      body: `5c\r\n${S}\r\n0\r\n\r\n`,
      outcome: 'reject',
    },
  ],
  [
    'CL.TE with Content-Length: 0',
    { head: 'Content-Length: 0\r\nTransfer-Encoding: chunked\r\n', body: chunkedSmuggle, outcome: 'reject' },
  ],
];

const tete: Array<[string, string]> = [
  ['xchunked', 'Transfer-Encoding: xchunked'],
  ['chunkedx', 'Transfer-Encoding: chunkedx'],
  ['a space before the colon', 'Transfer-Encoding : chunked'],
  ['a tab before the value', 'Transfer-Encoding:\tchunked'],
  ['chunked, identity', 'Transfer-Encoding: chunked, identity'],
  ['identity, chunked', 'Transfer-Encoding: identity, chunked'],
  ['chunked twice', 'Transfer-Encoding: chunked, chunked'],
  ['chunked then a second TE: x', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: x'],
  ['TE: x then a second TE: chunked', 'Transfer-Encoding: x\r\nTransfer-Encoding: chunked'],
  ['folded onto the previous line', 'X-A: a\r\n Transfer-Encoding: chunked'],
  ['value on a folded line', 'Transfer-Encoding:\r\n chunked'],
  ['a bare LF before it', 'X-A: a\nTransfer-Encoding: chunked'],
  ['quoted', 'Transfer-Encoding: "chunked"'],
  ['upper case', 'Transfer-Encoding: CHUNKED'],
  ['a lower-case name', 'transfer-encoding: chunked'],
  ['a NUL after the value', 'Transfer-Encoding: chunked\u0000'],
  ['a vertical tab', 'Transfer-Encoding:\u000bchunked'],
  ['a trailing comma', 'Transfer-Encoding: chunked,'],
];

const teCases: Array<[string, Case]> = tete.map(([name, line]) => [
  `TE.TE ${name}, with a Content-Length`,
  { head: `Content-Length: \${LEN}\r\n${line}\r\n`, body: chunkedSmuggle, outcome: 'either' },
]);
// Without a Content-Length there is nothing to disagree with: the gateway reads the body as chunked
// (and re-frames it upstream) or refuses. Transfer codings other than chunked are refused (RFC 9112
// §6.1 lets a server refuse codings it does not implement; the gateway would forward them undecoded).
const teAlone: Array<[string, Case]> = tete.map(([name, line]) => [
  `TE.TE ${name}, no Content-Length`,
  { head: `${line}\r\n`, body: '5\r\nhello\r\n0\r\n\r\n', outcome: { either: 'hello' } },
]);
const codings: Array<[string, Case]> = [
  ['identity, chunked', 'Transfer-Encoding: identity, chunked'],
  ['gzip, chunked', 'Transfer-Encoding: gzip, chunked'],
  ['x then chunked on two lines', 'Transfer-Encoding: x\r\nTransfer-Encoding: chunked'],
  ['chunked, chunked', 'Transfer-Encoding: chunked, chunked'],
].map(([name, line]) => [
  `a transfer coding besides chunked (${name}) → 400, closed`,
  { head: `${line}\r\n`, body: '5\r\nhello\r\n0\r\n\r\n', outcome: 'reject' },
]);

const underscores: Array<[string, Case]> = [
  [
    'Transfer_Encoding with a Content-Length: framed by Content-Length, the look-alike dropped',
    {
      head: 'Content-Length: ${LEN}\r\nTransfer_Encoding: chunked\r\n',
      body: chunkedSmuggle,
      outcome: 'either',
    },
  ],
  [
    'Content_Length alone: no body framing at all, the look-alike dropped',
    { head: 'Content_Length: 5\r\n', body: '', outcome: { body: '' } },
  ],
];

const contentLength: Array<[string, Case]> = [
  [
    'duplicate Content-Length, equal',
    { head: 'Content-Length: 5\r\nContent-Length: 5\r\n', body: 'hello', outcome: 'either' },
  ],
  [
    'duplicate Content-Length, different',
    { head: 'Content-Length: 5\r\nContent-Length: 50\r\n', body: `hello${S}`, outcome: 'reject' },
  ],
  ['Content-Length: 5, 5', { head: 'Content-Length: 5, 5\r\n', body: 'hello', outcome: 'either' }],
  ['Content-Length: 5, 50', { head: 'Content-Length: 5, 50\r\n', body: `hello${S}`, outcome: 'reject' }],
  ['Content-Length: +5', { head: 'Content-Length: +5\r\n', body: `hello${S}`, outcome: 'reject' }],
  ['Content-Length: -5', { head: 'Content-Length: -5\r\n', body: `hello${S}`, outcome: 'reject' }],
  ['Content-Length: 5.0', { head: 'Content-Length: 5.0\r\n', body: `hello${S}`, outcome: 'reject' }],
  ['Content-Length: 0x5', { head: 'Content-Length: 0x5\r\n', body: `hello${S}`, outcome: 'reject' }],
  ['Content-Length: 5 5', { head: 'Content-Length: 5 5\r\n', body: `hello${S}`, outcome: 'reject' }],
  ['Content-Length: 1e1', { head: 'Content-Length: 1e1\r\n', body: `hello12345${S}`, outcome: 'reject' }],
  [
    'Content-Length overflowing 64 bits',
    { head: 'Content-Length: 99999999999999999999999\r\n', body: `hello${S}`, outcome: 'reject' },
  ],
  ['an empty Content-Length', { head: 'Content-Length:\r\n', body: S, outcome: 'reject' }],
  [
    'Content-Length with leading zeros',
    { head: 'Content-Length: 005\r\n', body: 'hello', outcome: { body: 'hello' } },
  ],
  [
    'Content-Length padded with OWS',
    { head: 'Content-Length:  5 \r\n', body: 'hello', outcome: { body: 'hello' } },
  ],
  [
    'a hidden request as the body of a GET-like POST',
    { head: 'Content-Length: ${LEN}\r\n', body: S, outcome: 'either' },
  ],
];

const chunks: Array<[string, Case]> = [
  [
    'upper-case hex size',
    {
      head: 'Transfer-Encoding: chunked\r\n',
      body: 'A\r\n0123456789\r\n0\r\n\r\n',
      outcome: { body: '0123456789' },
    },
  ],
  [
    'leading zeros in the size',
    {
      head: 'Transfer-Encoding: chunked\r\n',
      body: '0005\r\nhello\r\n0\r\n\r\n',
      outcome: { body: 'hello' },
    },
  ],
  [
    'a chunk extension',
    {
      head: 'Transfer-Encoding: chunked\r\n',
      body: '5;name=value\r\nhello\r\n0\r\n\r\n',
      outcome: { body: 'hello' },
    },
  ],
  [
    'an extension on the last chunk',
    {
      head: 'Transfer-Encoding: chunked\r\n',
      body: '5\r\nhello\r\n0;x=1\r\n\r\n',
      outcome: { body: 'hello' },
    },
  ],
  [
    'a quoted extension holding CRLF',
    {
      head: 'Transfer-Encoding: chunked\r\n',
      body: `5;a="b\r\n0\r\n\r\n${S}"\r\nhello\r\n0\r\n\r\n`,
      outcome: 'either',
    },
  ],
  [
    'an extension ending in a bare LF',
    { head: 'Transfer-Encoding: chunked\r\n', body: `5;a\nhello\r\n0\r\n\r\n${S}`, outcome: 'either' },
  ],
  [
    '0x in the size',
    { head: 'Transfer-Encoding: chunked\r\n', body: `0x5\r\nhello\r\n0\r\n\r\n${S}`, outcome: 'reject' },
  ],
  [
    'a negative size',
    { head: 'Transfer-Encoding: chunked\r\n', body: `-5\r\nhello\r\n0\r\n\r\n${S}`, outcome: 'reject' },
  ],
  [
    'a size overflowing 64 bits',
    {
      head: 'Transfer-Encoding: chunked\r\n',
      body: `10000000000000005\r\nhello\r\n0\r\n\r\n${S}`,
      outcome: 'reject',
    },
  ],
  [
    'a space inside the size',
    { head: 'Transfer-Encoding: chunked\r\n', body: `5 5\r\nhello\r\n0\r\n\r\n${S}`, outcome: 'reject' },
  ],
  [
    'more data than the size',
    { head: 'Transfer-Encoding: chunked\r\n', body: `3\r\nhello\r\n0\r\n\r\n${S}`, outcome: 'reject' },
  ],
  [
    'no CRLF after the data',
    { head: 'Transfer-Encoding: chunked\r\n', body: `5\r\nhello0\r\n\r\n${S}`, outcome: 'reject' },
  ],
  [
    'bare LF framing',
    { head: 'Transfer-Encoding: chunked\r\n', body: `5\nhello\n0\n\n${S}`, outcome: 'either' },
  ],
  [
    'a size that is not hex',
    { head: 'Transfer-Encoding: chunked\r\n', body: `g\r\nhello\r\n0\r\n\r\n${S}`, outcome: 'reject' },
  ],
  [
    'an empty size line',
    { head: 'Transfer-Encoding: chunked\r\n', body: `\r\nhello\r\n0\r\n\r\n${S}`, outcome: 'reject' },
  ],
];

const trailers: Array<[string, string]> = [
  ['an identity header', 'X-User-Id: trailer-evil'],
  ['Content-Length', 'Content-Length: 777'],
  ['Transfer-Encoding', 'Transfer-Encoding: trailer-coding'],
  ['Host', 'Host: trailer.evil.test'],
];

// Each head ends with `Connection: close`: whatever follows it must never be read as a request.
const lineEndings: Array<[string, string]> = [
  ['bare LF after the request line', 'GET /pub/ID HTTP/1.1\nHost: gw.test\r\nConnection: close\r\n\r\n'],
  ['bare LF everywhere', 'GET /pub/ID HTTP/1.1\nHost: gw.test\nConnection: close\n\n'],
  [
    'a bare CR inside a header',
    'GET /pub/ID HTTP/1.1\r\nHost: gw.test\r\nX-A: a\rX-B: b\r\nConnection: close\r\n\r\n',
  ],
  ['a bare CR ending the head', 'GET /pub/ID HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\r\n\r\n'],
  [
    'obs-fold in a header value',
    'GET /pub/ID HTTP/1.1\r\nHost: gw.test\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n',
  ],
  [
    'whitespace before the first header',
    'GET /pub/ID HTTP/1.1\r\n Host: gw.test\r\nConnection: close\r\n\r\n',
  ],
  ['two spaces in the request line', 'GET  /pub/ID HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n'],
  [
    'a trailing space after the version',
    'GET /pub/ID HTTP/1.1 \r\nHost: gw.test\r\nConnection: close\r\n\r\n',
  ],
];

describe('CL.TE and TE.CL', () => {
  it.each(clte)('%s', (_n, c) => run(c));
});

describe('TE.TE obfuscations', () => {
  it.each(teCases)('%s', (_n, c) => run(c));
  it.each(teAlone)('%s', (_n, c) => run(c));
  it.each(codings)('%s', (_n, c) => run(c));
  it.each(underscores)('%s', async (_n, c) => {
    await run(c);
    for (const r of up.requests.slice(-1)) {
      expect(valuesOf(r, 'transfer-encoding').filter((v) => v !== 'chunked')).toEqual([]);
      expect(r.rawHeaders.filter((h) => /_/.test(h) && /length|encoding/i.test(h))).toEqual([]);
    }
  });
});

describe('Content-Length games', () => {
  it.each(contentLength)('%s', (_n, c) => run(c));
});

describe('chunk-size and chunk-extension games', () => {
  it.each(chunks)('%s', (_n, c) => run(c));

  it.each(trailers)('a trailer carrying %s is never forwarded as a header', async (_n, line) => {
    await run({
      head: 'Transfer-Encoding: chunked\r\n',
      body: `5\r\nhello\r\n0\r\n${line}\r\n\r\n`,
      outcome: 'either',
    });
    const last = up.requests.at(-1)!;
    expect(last.rawHeaders.filter((h) => h.includes('trailer'))).toEqual([]);
  });
});

describe('line endings and folding', () => {
  it.each(lineEndings)('%s → refused or one request, never two', async (_n, text) => {
    const id = uniq();
    const mark = up.requests.length;
    const conv = await converse(gw.port, `${text.replace('ID', id)}${hidden(id)}`, {
      waitMs: 700,
      afterResponseMs: 150,
    });
    const seen = since(up, mark);
    expect(seen.filter((r) => r.url.includes('SMUGGLED'))).toEqual([]);
    const status = conv.responses[0]?.status;
    if (status === 400)
      expect({ closed: conv.closed, forwarded: seen.length }).toEqual({ closed: true, forwarded: 0 });
    else expect(seen.map((r) => r.url)).toEqual([`/pub/${id}`]);
  });
});

describe('controls: the same framing, unambiguous, is forwarded', () => {
  it.each<[string, Case]>([
    ['Content-Length alone', { head: 'Content-Length: 5\r\n', body: 'hello', outcome: { body: 'hello' } }],
    [
      'chunked alone',
      { head: 'Transfer-Encoding: chunked\r\n', body: '5\r\nhello\r\n0\r\n\r\n', outcome: { body: 'hello' } },
    ],
    [
      'chunked with trailers',
      {
        head: 'Transfer-Encoding: chunked\r\n',
        body: '5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
        outcome: { body: 'hello' },
      },
    ],
  ])('%s → one request with the body', (_n, c) => run(c));

  it('pipelined requests on one connection are answered in order, each forwarded once', async () => {
    const mark = up.requests.length;
    const a = 'GET /pub/pipe-a HTTP/1.1\r\nHost: gw.test\r\n\r\n';
    const b = 'GET /pub/pipe-b HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n';
    const conv = await converse(gw.port, a + b, { waitMs: 2_000 });
    // Answers come back in request order (RFC 9112 §9.3.2), whatever order the upstream saw them in.
    expect(
      conv.responses.map((r) => [r.status, (JSON.parse(r.body.toString()) as { url: string }).url]),
    ).toEqual([
      [200, '/pub/pipe-a'],
      [200, '/pub/pipe-b'],
    ]);
    expect(
      since(up, mark)
        .map((r) => r.url)
        .sort(),
    ).toEqual(['/pub/pipe-a', '/pub/pipe-b']);
  });

  it(`${PIPELINED_MAX} requests pipelined behind a slow one are all answered, in order`, async () => {
    const id = uniq();
    const slow = `GET /pub/slow-${id} HTTP/1.1\r\nHost: gw.test\r\n\r\n`;
    const queued = Array.from(
      { length: PIPELINED_MAX },
      (_, i) =>
        `GET /pub/q-${id}-${i} HTTP/1.1\r\nHost: gw.test\r\n${i === PIPELINED_MAX - 1 ? 'Connection: close\r\n' : ''}\r\n`,
    );
    const conv = await converse(gw.port, slow + queued.join(''), { waitMs: 5_000 });
    expect(conv.closed).toBe(true);
    expect(conv.responses.map((r) => r.status)).toEqual(Array(PIPELINED_MAX + 1).fill(200));
    expect(JSON.parse(conv.responses.at(-1)!.body.toString())).toMatchObject({
      url: `/pub/q-${id}-${PIPELINED_MAX - 1}`,
    });
  });

  it('security: a connection pipelining more requests than that behind an unanswered one is closed, the requests behind it never forwarded', async () => {
    const mark = up.requests.length;
    const id = uniq();
    // 20,000 requests (≈ 900 KB) behind a slow one: without the bound every one of them stayed parsed in
    // memory (200,000 took the heap from 50 to 561 MB) until the connection ended.
    const flood = `GET /pub/slow-${id} HTTP/1.1\r\nHost: gw.test\r\n\r\n${`GET /pub/f-${id} HTTP/1.1\r\nHost: gw.test\r\n\r\n`.repeat(20_000)}`;
    const conv = await converse(gw.port, flood, { waitMs: 3_000 });
    expect(conv.closed).toBe(true);
    expect(conv.responses).toEqual([]);
    await sleep(600); // the slow answer is due: nothing queued behind it may start now
    expect(since(up, mark).filter((r) => r.url.includes(`/pub/f-${id}`))).toEqual([]);
  });

  it.each([
    [
      'the client asked to close (Connection: close)',
      'GET /pub/close-first HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n',
      200,
    ],
    [
      'the first was refused with a close (two Host headers)',
      'GET /pub/bad-host HTTP/1.1\r\nHost: gw.test\r\nHost: other.test\r\n\r\n',
      400,
    ],
    [
      'the first body was refused with a close (413 over body_limit)',
      `POST /lim/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 64\r\n\r\n${'x'.repeat(64)}`,
      413,
    ],
  ])(
    'security: no request pipelined behind a response that closes the connection is processed: %s',
    async (_n, first, status) => {
      const mark = up.requests.length;
      const id = uniq();
      const behind = `GET /pub/behind-${id} HTTP/1.1\r\nHost: gw.test\r\n\r\n`;
      const conv = await converse(gw.port, first + behind + behind.replace('behind-', 'behind2-'), {
        waitMs: 1_500,
      });
      expect(conv.responses.map((r) => r.status)).toEqual([status]);
      expect(conv.closed).toBe(true);
      // RFC 9112 §9.6: the requests behind it are neither forwarded nor answered.
      expect(since(up, mark).filter((r) => r.url.includes(id))).toEqual([]);
    },
  );
});
