// The body rules of every own endpoint over HTTP (DESIGN: "Bodies", "Parse errors deny"): a body must be
// valid UTF-8 (no silent U+FFFD) and JSON whose objects repeat no key; an endpoint that takes no body
// still refuses one of another type (415) or over server.body_limit (413, the connection closed after).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converse, expectRawEnvelope, head } from '../../conformance/support.js';
import type { TestGateway } from '../../support/gateway.js';
import { rawExchange } from '../helpers.js';
import {
  call,
  expectFailure,
  login,
  loginOk,
  me,
  newUser,
  type Reply,
  register,
  registerAndLogin,
  startAccountsGateway,
  UA,
  userCount,
} from './support.js';

const REGISTER = '/api/auth/register';
const LOGIN = '/api/auth/login';
const JSON_TYPE = { 'content-type': 'application/json' };

let gw: TestGateway;
beforeAll(async () => {
  gw = await startAccountsGateway({ base: { server: 'body_limit: 1kb' } });
});
afterAll(async () => {
  await gw.stop();
});

/** `value` as JSON with every `RAW` in it replaced by `raw`, byte for byte. */
function withRaw(value: unknown, raw: Buffer): Buffer {
  const parts = JSON.stringify(value).split('RAW');
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [raw, Buffer.from(p)])));
}

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

const postJson = (path: string, body: string | Buffer): Promise<Reply> =>
  call(gw, 'POST', path, { body, headers: JSON_TYPE });

describe('bodies must be UTF-8', () => {
  it('register with a password of invalid UTF-8 bytes → 400 invalid_json, and no row', async () => {
    const before = userCount(gw);
    const user = newUser({ password: 'RAW' });
    const res = await postJson(REGISTER, withRaw(user, latin1('correct horse battery \xff\xfe staple')));
    expectFailure(res, 400, 'invalid_json');
    expect(userCount(gw)).toBe(before);
  });

  it('invalid bytes never match a password that holds U+FFFD', async () => {
    const password = 'correct horse battery \uFFFD\uFFFD staple';
    const user = newUser({ password });
    expect((await register(gw, user)).status).toBe(201);
    for (const bytes of ['\xc0\xc1', '\xff\xfe', '\xef\xbf\xbd\xff']) {
      const raw = latin1(`correct horse battery ${bytes} staple`);
      const res = await postJson(LOGIN, withRaw({ email: user.email, password: 'RAW' }, raw));
      expectFailure(res, 400, 'invalid_json');
    }
    expect((await login(gw, user.email, password)).status).toBe(200);
  });

  it('SECURITY: half a surrogate pair never reads as another password (\\ud800 and \\udfff were one)', async () => {
    const before = userCount(gw);
    const user = newUser({ password: 'RAW' });
    const res = await postJson(REGISTER, withRaw(user, Buffer.from('correct horse \\ud800 battery')));
    expectFailure(res, 400, 'invalid_json');
    expect(userCount(gw)).toBe(before);
    const owner = newUser({ password: 'correct horse \uFFFD battery' });
    expect((await register(gw, owner)).status).toBe(201);
    for (const half of ['\\ud800', '\\udfff']) {
      const raw = Buffer.from(`correct horse ${half} battery`);
      expectFailure(
        await postJson(LOGIN, withRaw({ email: owner.email, password: 'RAW' }, raw)),
        400,
        'invalid_json',
      );
    }
    const email = Buffer.from(`${owner.email.split('@')[0]}\\udc00@example.com`);
    expectFailure(
      await postJson(REGISTER, withRaw({ ...newUser(), email: 'RAW' }, email)),
      400,
      'invalid_json',
    );
    expect((await login(gw, owner.email, owner.password)).status).toBe(200);
  });

  it.each([
    ['a lone continuation byte', '\x80'],
    ['an overlong "/"', '\xc0\xaf'],
    ['an overlong three-byte form', '\xe0\x80\xaf'],
    ['an encoded surrogate', '\xed\xa0\x80'],
    ['a code point above U+10FFFF', '\xf4\x90\x80\x80'],
    ['a sequence cut short', '\xe2\x82'],
    ['0xFE', '\xfe'],
  ])('%s in a string → 400 invalid_json', async (_name, bytes) => {
    const res = await postJson(LOGIN, withRaw({ email: 'a@example.com', password: 'RAW' }, latin1(bytes)));
    expectFailure(res, 400, 'invalid_json');
  });

  it('a UTF-8 byte order mark before the JSON → 400 invalid_json', async () => {
    const body = Buffer.concat([latin1('\xef\xbb\xbf'), Buffer.from(JSON.stringify(newUser()))]);
    expectFailure(await postJson(REGISTER, body), 400, 'invalid_json');
  });

  it('multi-byte characters split across network chunks are read whole', async () => {
    const user = newUser({ first_name: 'Zoë Ünal', last_name: '李🔑', password: 'kettle-🔑-harbour-ß-93' });
    const body = Buffer.from(JSON.stringify(user));
    const request = Buffer.concat([
      Buffer.from(
        head('POST', REGISTER, ['Content-Type: application/json', `Content-Length: ${body.length}`]),
      ),
      body,
    ]);
    // One byte per TCP segment: every multi-byte character arrives in pieces.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({ port: gw.port, host: '127.0.0.1', noDelay: true });
      let got = '';
      socket.on('data', (c: Buffer) => {
        got += c.toString('utf8');
        if (/\r\n\r\n[\s\S]*\}$/.test(got)) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
      socket.write(request.subarray(0, request.length - body.length));
      let at = request.length - body.length;
      const next = (): void => {
        if (at >= request.length) return;
        socket.write(request.subarray(at, at + 1));
        at += 1;
        setTimeout(next, 1);
      };
      next();
    });
    expect(reply).toMatch(/^HTTP\/1\.1 201 /);
    const data = (JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { data: Record<string, unknown> })
      .data;
    expect([data.first_name, data.last_name]).toEqual(['Zoë Ünal', '李🔑']);
    await loginOk(gw, user.email, user.password);
  });
});

describe('a key repeated in one object → 400 invalid_json naming it', () => {
  it.each([
    ['email twice', '{"email":"a@example.com","email":"b@example.com","password":"x"}', 'email'],
    ['password twice', '{"email":"a@example.com","password":"x","password":"y"}', 'password'],
    [
      'a repeat spelled with an escape',
      '{"email":"a@example.com","\\u0065mail":"b@example.com","password":"x"}',
      'email',
    ],
    ['in a nested object', '{"email":"a@example.com","password":"x","extra":{"kind":1,"kind":2}}', 'kind'],
    [
      'in an object in an array',
      '{"email":"a@example.com","password":"x","l":[{"k9":1},{"k9":2,"k9":3}]}',
      'k9',
    ],
    [
      '__proto__ twice',
      '{"__proto__":{},"__proto__":{},"email":"a@example.com","password":"x"}',
      '__proto__',
    ],
  ])('%s', async (_name, body, key) => {
    const res = await postJson(LOGIN, body);
    expectFailure(res, 400, 'invalid_json');
    expect(res.body?.message).toContain(`"${key}"`);
  });

  it('register with first_name twice leaves no row', async () => {
    const before = userCount(gw);
    const user = newUser();
    const body = `{"first_name":"Mallory",${JSON.stringify(user).slice(1)}`;
    const res = await postJson(REGISTER, body);
    expectFailure(res, 400, 'invalid_json');
    expect(res.body?.message).toContain('"first_name"');
    expect(userCount(gw)).toBe(before);
  });

  it('one key in different objects, or a key equal to a string value, is no repeat', async () => {
    const body = JSON.stringify({
      email: 'nobody@example.com',
      password: 'email',
      a: { email: 1, password: { email: 2 } },
      b: [{ email: 3 }, { email: 4 }, 'email', { '"email"': 5 }],
    });
    expectFailure(await postJson(LOGIN, body), 401, 'invalid_credentials');
  });
});

describe('security: a body nested too deep or holding too many values is refused before it is parsed (400 validation_failed)', () => {
  // 500,000 levels in 1 MB took JSON.parse 0.85-1.7 s on the event loop, every request that sent one.
  // The default server.body_limit (1mb), which lets such bodies in.
  let big: TestGateway;
  beforeAll(async () => {
    big = await startAccountsGateway();
  });
  afterAll(async () => {
    await big?.stop();
  });
  const deep = (levels: number): string =>
    `{"email":"a@example.com","password":"x","n":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
  it.each([
    ['nested 150,000 levels (900 KB)', deep(150_000), 'Request body nests deeper than 32 levels'],
    ['nested 32 levels', deep(32), 'Request body nests deeper than 32 levels'],
    [
      'holding 100,000 values',
      `{"email":"a@example.com","password":"x","n":[${'1,'.repeat(100_000)}1]}`,
      'Request body holds more than 1000 values',
    ],
  ])('%s', async (_name, body, message) => {
    const res = await call(big, 'POST', LOGIN, { headers: JSON_TYPE, body });
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toBe(message);
  });

  it('31 levels, and 1,000 separators (members and items), still reach the endpoint', async () => {
    expectFailure(
      await call(big, 'POST', LOGIN, { headers: JSON_TYPE, body: deep(31) }),
      401,
      'invalid_credentials',
    );
    const values = `{"email":"a@example.com","password":"x","n":[${'1,'.repeat(994)}1]}`;
    expectFailure(
      await call(big, 'POST', LOGIN, { headers: JSON_TYPE, body: values }),
      401,
      'invalid_credentials',
    );
  });
});

/** Every own endpoint that takes no body, and whether it needs a token. */
const NO_BODY: ReadonlyArray<readonly [string, string, boolean]> = [
  ['POST', '/api/auth/logout', true],
  ['GET', '/api/users/me', true],
  ['GET', '/api/users/me/sessions', true],
  ['DELETE', '/api/users/me/sessions', true],
  ['GET', '/api/auth/totp', true],
  ['GET', '/.well-known/jwks.json', false],
];

/** A fresh session's access token (each case may end one: logout), or none for a public endpoint. */
async function tokenFor(needsToken: boolean): Promise<string | undefined> {
  return needsToken ? (await registerAndLogin(gw)).pair.access : undefined;
}

/** The request's Authorization header line, when it has a token. */
const authLine = async (needsToken: boolean): Promise<string[]> => {
  const token = await tokenFor(needsToken);
  return token === undefined ? [] : [`Authorization: Bearer ${token}`, `User-Agent: ${UA}`];
};

describe.each(NO_BODY)('%s %s takes no body, yet the body rules apply', (method, path, needsToken) => {
  it('a text/plain body, or one with no Content-Type → 415 unsupported_media_type', async () => {
    for (const headers of [{ 'content-type': 'text/plain' }, {}] as Record<string, string>[]) {
      const token = await tokenFor(needsToken);
      const res = await call(gw, method, path, {
        body: 'hello',
        headers,
        ...(token === undefined ? {} : { token }),
      });
      expectFailure(res, 415, 'unsupported_media_type');
    }
  });

  it('a JSON body over the limit with its Content-Length → 413, the connection closed', async () => {
    const body = JSON.stringify({ pad: 'x'.repeat(2_000) });
    const lines = [...(await authLine(needsToken)), 'Content-Type: application/json'];
    const conv = await converse(
      gw.port,
      head(method, path, [...lines, `Content-Length: ${body.length}`]) + body,
    );
    expect(conv.responses.length).toBe(1);
    expectRawEnvelope(conv.responses[0], 413, 'payload_too_large');
    expect(conv.closed).toBe(true);
  });

  it('a chunked JSON body that grows over the limit → 413, the connection closed', async () => {
    const lines = [
      ...(await authLine(needsToken)),
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
    ];
    const piece = `{"pad":"${'x'.repeat(600)}`;
    const chunk = `${piece.length.toString(16)}\r\n${piece}\r\n`;
    const conv = await converse(gw.port, [head(method, path, lines), chunk, chunk, chunk], { gapMs: 20 });
    expect(conv.responses.length).toBe(1);
    expectRawEnvelope(conv.responses[0], 413, 'payload_too_large');
    expect(conv.closed).toBe(true);
  });

  it('an announced Content-Length of 1 GiB → 413 at once, the connection closed', async () => {
    const lines = [
      ...(await authLine(needsToken)),
      'Content-Type: application/json',
      'Content-Length: 1073741824',
    ];
    const ex = rawExchange(gw.port, head(method, path, lines));
    const res = await ex.response;
    expect(res.status).toBe(413);
    expect(await ex.closed(2_000)).toBe(true);
  });

  it('a JSON body within the limit is read and ignored; the connection stays usable', async () => {
    const lines = [...(await authLine(needsToken)), 'Content-Type: application/json'];
    const body = '{"ignored":true}';
    const first = head(method, path, [...lines, `Content-Length: ${body.length}`]) + body;
    const second = head('GET', '/.well-known/jwks.json');
    const conv = await converse(gw.port, first + second, { afterResponseMs: 300 });
    expect(conv.responses.map((r) => r.status)).toEqual([200, 200]);
  });

  it('a Content-Type with no body is no body: answered as usual', async () => {
    const lines = [...(await authLine(needsToken)), 'Content-Type: text/plain', 'Content-Length: 0'];
    const conv = await converse(gw.port, head(method, path, lines), { afterResponseMs: 50 });
    expect(conv.responses[0]?.status).toBe(200);
  });
});

describe('an unread body is never read as the next request', () => {
  /** A logout of `inner`'s session, written as the body (or part of it) of another request. */
  const hiddenLogout = (token: string): string =>
    head('POST', '/api/auth/logout', [`Authorization: Bearer ${token}`, `User-Agent: ${UA}`]);

  it('a logout announcing a length over the limit, its body a second logout sent after the 413: one answer, both sessions alive', async () => {
    const outer = await registerAndLogin(gw);
    const inner = await registerAndLogin(gw);
    const hidden = hiddenLogout(inner.pair.access);
    const body = hidden + 'x'.repeat(2_000 - hidden.length);
    const lines = [
      `Authorization: Bearer ${outer.pair.access}`,
      `User-Agent: ${UA}`,
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
    ];
    // The body goes out once the 413 is on its way: a gateway that went on reading would parse it.
    const conv = await converse(gw.port, [head('POST', '/api/auth/logout', lines), body], { gapMs: 100 });
    expect(conv.responses.map((r) => r.status)).toEqual([413]);
    expect(conv.closed).toBe(true);
    expect((await me(gw, outer.pair.access)).status).toBe(200);
    expect((await me(gw, inner.pair.access)).status).toBe(200);
  });

  it('a chunked logout that grows over the limit, then carries a second logout as chunk data: one answer, both sessions alive', async () => {
    const outer = await registerAndLogin(gw);
    const inner = await registerAndLogin(gw);
    const lines = [
      `Authorization: Bearer ${outer.pair.access}`,
      `User-Agent: ${UA}`,
      'Content-Type: application/json',
      'Transfer-Encoding: chunked',
    ];
    const pad = 'y'.repeat(1_100);
    const hidden = hiddenLogout(inner.pair.access);
    const conv = await converse(
      gw.port,
      [
        head('POST', '/api/auth/logout', lines),
        `${pad.length.toString(16)}\r\n${pad}\r\n`,
        `${hidden.length.toString(16)}\r\n${hidden}\r\n`,
        `0\r\n\r\n${hidden}`,
      ],
      { gapMs: 100 },
    );
    expect(conv.responses.map((r) => r.status)).toEqual([413]);
    expect(conv.closed).toBe(true);
    expect((await me(gw, outer.pair.access)).status).toBe(200);
    expect((await me(gw, inner.pair.access)).status).toBe(200);
  });
});
