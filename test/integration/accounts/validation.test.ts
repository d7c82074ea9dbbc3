// Input checks of register and login over HTTP: JSON only (415), bounded (413, also on the announced
// length alone), parse errors 400 invalid_json, wrong types, missing fields and names holding control
// or bidi characters name the field, and the password policy names the rule. A refused registration
// never leaves a row behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../../gateway/operations.js';
import type { TestGateway } from '../../support/gateway.js';
import { operations } from '../enforcement/support.js';
import {
  call,
  expectFailure,
  newUser,
  rawStatus,
  register,
  startAccountsGateway,
  userCount,
} from './support.js';

const REGISTER = '/api/auth/register';
const LOGIN = '/api/auth/login';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startAccountsGateway({ base: { server: 'body_limit: 1kb' }, passwords: 'max_length: 64' });
});
afterAll(async () => {
  await gw.stop();
});

describe('body format', () => {
  it.each([
    ['truncated object', '{"email": "a@example.com", "password":'],
    ['trailing comma', '{"email": "a@example.com",}'],
    ['not JSON at all', 'email=a@example.com&password=x'],
    ['empty body', ''],
    ['single quotes', "{'email': 'a@example.com'}"],
  ])('%s → 400 invalid_json', async (_name, body) => {
    for (const path of [REGISTER, LOGIN]) {
      const res = await call(gw, 'POST', path, { body, headers: { 'content-type': 'application/json' } });
      expectFailure(res, 400, 'invalid_json');
    }
  });

  it.each([
    ['array', '[]'],
    ['null', 'null'],
    ['string', '"hello"'],
    ['number', '42'],
  ])('a JSON %s instead of an object → 400 validation_failed', async (_name, body) => {
    const res = await call(gw, 'POST', REGISTER, { body, headers: { 'content-type': 'application/json' } });
    expectFailure(res, 400, 'validation_failed');
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['form', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['json lookalike', 'application/jsonx'],
    ['json-patch', 'application/json-patch+json'],
    ['none', undefined],
  ])('Content-Type %s → 415 unsupported_media_type', async (_name, type) => {
    const body = JSON.stringify(newUser());
    for (const path of [REGISTER, LOGIN]) {
      const res = await call(gw, 'POST', path, {
        body,
        ...(type === undefined ? {} : { headers: { 'content-type': type } }),
      });
      expectFailure(res, 415, 'unsupported_media_type');
    }
  });

  it('accepts application/json with parameters, in any case', async () => {
    const user = newUser();
    const res = await call(gw, 'POST', REGISTER, {
      body: JSON.stringify(user),
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
    });
    expect(res.status).toBe(201);
  });
});

describe('body size (server.body_limit: 1kb)', () => {
  const big = JSON.stringify(newUser({ first_name: 'x'.repeat(2_000) }));

  it('a body over the limit with its Content-Length → 413 payload_too_large', async () => {
    const res = await call(gw, 'POST', REGISTER, {
      body: big,
      headers: { 'content-type': 'application/json' },
    });
    expectFailure(res, 413, 'payload_too_large');
  });

  it('a chunked body that grows over the limit → 413 payload_too_large', async () => {
    const res = await call(gw, 'POST', LOGIN, {
      body: big,
      chunked: true,
      headers: { 'content-type': 'application/json' },
    });
    expectFailure(res, 413, 'payload_too_large');
  });

  it('an announced Content-Length over the limit is refused before any byte of the body arrives', async () => {
    const head = `POST ${REGISTER} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n`;
    const res = await rawStatus(gw, head, 2_000);
    expect({ status: res.status, code: res.code }).toEqual({ status: 413, code: 'payload_too_large' });
  });

  it('a body just under the limit is read', async () => {
    const user = newUser({ last_name: 'y'.repeat(100) });
    const res = await register(gw, user);
    expect(res.status).toBe(201);
  });
});

describe('field types and presence', () => {
  it.each([
    ['email', 42],
    ['email', ['a@example.com']],
    ['email', { address: 'a@example.com' }],
    ['email', true],
    ['password', 123456789012],
    ['password_confirm', ['x']],
    ['first_name', { x: 1 }],
    ['last_name', 7],
  ])('register with %s = %j → 400 validation_failed naming the field', async (field, value) => {
    const before = userCount(gw);
    const res = await register(gw, { ...newUser(), [field]: value });
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain(field);
    expect(userCount(gw)).toBe(before);
  });

  it.each([
    ['email', 42],
    ['email', ['a@example.com']],
    ['password', { p: 'x' }],
  ])('login with %s = %j → 400 validation_failed naming the field', async (field, value) => {
    const res = await call(gw, 'POST', LOGIN, {
      json: { email: 'a@example.com', password: 'x', [field]: value },
    });
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain(field);
  });

  it.each(['email', 'password', 'password_confirm', 'first_name', 'last_name'])(
    'register without %s → 400 validation_failed naming it',
    async (field) => {
      const before = userCount(gw);
      const body: Record<string, unknown> = { ...newUser() };
      delete body[field];
      const res = await register(gw, body);
      expectFailure(res, 400, 'validation_failed');
      expect(res.body?.message).toContain(field);
      expect(userCount(gw)).toBe(before);
    },
  );

  it.each(['first_name', 'last_name'])('register with a blank %s → 400 validation_failed', async (field) => {
    const res = await register(gw, { ...newUser(), [field]: '   ' });
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain(field);
  });

  it.each([
    ['first_name', 'BEL', 'Ada\u0007'],
    ['last_name', 'NUL', 'Love\u0000lace'],
    ['first_name', 'a line feed', 'Ada\nX-Role: admin'],
    ['last_name', 'a tab', 'Love\tlace'],
    ['first_name', 'DEL', 'Ada\u007f'],
    ['last_name', 'the C1 control NEL', 'Love\u0085lace'],
    ['first_name', 'RIGHT-TO-LEFT OVERRIDE', 'Ada\u202eecalevol'],
    ['last_name', 'LEFT-TO-RIGHT EMBEDDING', '\u202aLovelace'],
    ['first_name', 'RIGHT-TO-LEFT ISOLATE', '\u2067Ada'],
    ['last_name', 'POP DIRECTIONAL ISOLATE', 'Lovelace\u2069'],
    ['first_name', 'LEFT-TO-RIGHT MARK', 'Ada\u200e'],
    ['last_name', 'RIGHT-TO-LEFT MARK', '\u200fLovelace'],
    ['first_name', 'ARABIC LETTER MARK', 'Ada\u061c'],
  ])(
    'register with %s holding %s → 400 validation_failed naming it, and no row',
    async (field, _name, value) => {
      const before = userCount(gw);
      const res = await register(gw, newUser({ [field]: value }));
      expectFailure(res, 400, 'validation_failed');
      expect(res.body?.message).toContain(field);
      expect(userCount(gw)).toBe(before);
    },
  );

  it.each([
    ['first_name', 'a lone high surrogate', 'Ada\ud800'],
    ['last_name', 'a lone low surrogate', '\udc00Lovelace'],
  ])(
    'register with %s holding %s → 400 invalid_json (the body parser refuses it), and no row',
    async (field, _name, value) => {
      const before = userCount(gw);
      expectFailure(await register(gw, newUser({ [field]: value })), 400, 'invalid_json');
      expect(userCount(gw)).toBe(before);
    },
  );

  it.each([
    ['accents and CJK', 'Zoë', '李'],
    ['an apostrophe, a hyphen and spaces', "O'Brien", 'Smith-Jones de la Cruz'],
    ['right-to-left letters', 'محمد', 'שרה'],
    ['a zero-width non-joiner (Persian)', 'می\u200cخواهم', 'Rahimi'],
    ['a virama and emoji', 'क्षत्रिय', 'Lovelace 🔑'],
  ])('names with %s are accepted as written', async (_name, first, last) => {
    const res = await register(gw, newUser({ first_name: first, last_name: last }));
    expect(res.status, res.text).toBe(201);
    expect([res.body?.data?.first_name, res.body?.data?.last_name]).toEqual([first, last]);
  });

  it('the name length rule is unchanged: 150 code points, not UTF-16 units', async () => {
    expect((await register(gw, newUser({ first_name: '🔑'.repeat(150) }))).status).toBe(201);
    const res = await register(gw, newUser({ first_name: '🔑'.repeat(151) }));
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain('first_name');
  });

  it.each([
    ['no @', 'alice.example.com'],
    ['two @', 'a@b@example.com'],
    ['no domain dot', 'alice@localhost'],
    ['zero-width space', 'ali\u200bce@example.com'],
    ['CRLF', 'alice@example.com\r\nX-User-Id: admin'],
    ['blank', '   '],
  ])('register with an invalid email (%s) → 400 validation_failed naming email', async (_name, email) => {
    const before = userCount(gw);
    const res = await register(gw, newUser({ email }));
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain('email');
    expect(userCount(gw)).toBe(before);
  });

  it('a field hidden in __proto__ is not read', async () => {
    const { email, ...rest } = newUser();
    const body = `{"__proto__":{"email":"${email}"},${JSON.stringify(rest).slice(1)}`;
    const res = await call(gw, 'POST', REGISTER, { body, headers: { 'content-type': 'application/json' } });
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain('email');
  });

  it('password and password_confirm that differ → 400 validation_failed naming password_confirm', async () => {
    const before = userCount(gw);
    const res = await register(gw, { ...newUser(), password_confirm: 'violet-harbour-kettle-94' });
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain('password_confirm');
    expect(userCount(gw)).toBe(before);
  });
});

describe('password policy through the API', () => {
  it.each([
    ['min_length', 'short-pw1', {}],
    ['max_length', 'q'.repeat(40) + 'é'.repeat(25), {}],
    ['common', 'qwerty123456', {}],
    ['numeric', '804219375610283', {}],
    ['similar', 'marguerite.fontaine', { email: 'marguerite.fontaine@example.com' }],
    ['similar', 'Bartholomew-Quist', { first_name: 'Bartholomew', last_name: 'Quist' }],
  ])(
    'a password breaking %s → 400 validation_failed naming the rule, and no row',
    async (rule, password, extra) => {
      const before = userCount(gw);
      const res = await register(gw, newUser({ password, ...extra }));
      expectFailure(res, 400, 'validation_failed');
      expect(res.body?.message).toContain(rule);
      expect(res.body?.message).not.toContain(password);
      expect(userCount(gw)).toBe(before);
    },
  );

  it('max_length counts code points, not UTF-16 units: 64 are accepted, 65 are not', async () => {
    const at64 = `${'🔑'.repeat(60)}abcd`; // 64 code points, 124 UTF-16 units
    expect((await register(gw, newUser({ password: at64 }))).status).toBe(201);
    const res = await register(gw, newUser({ password: `${at64}e` }));
    expectFailure(res, 400, 'validation_failed');
    expect(res.body?.message).toContain('max_length');
  });

  it('a duplicate registration leaves exactly one row', async () => {
    const user = newUser();
    expect((await register(gw, user)).status).toBe(201);
    const before = userCount(gw);
    expectFailure(await register(gw, user), 409, 'email_taken');
    expect(userCount(gw)).toBe(before);
  });
});

describe('names set by an operator (portcullis user create)', () => {
  it.each([
    ['first_name', 'RIGHT-TO-LEFT OVERRIDE', 'Ada\u202e'],
    ['last_name', 'BEL', 'Love\u0007lace'],
    ['first_name', 'a lone surrogate', '\ud800'],
  ])('%s holding %s → validation_failed naming it, and no row', async (field, _name, value) => {
    const ops = operations(gw);
    const before = userCount(gw);
    const { email, password, first_name, last_name } = newUser();
    const input = { email, password, first_name, last_name, [field]: value };
    const err: unknown = await ops.createUser(input, CLI_ACTOR).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'validation_failed' });
    expect((err as Error).message).toContain(field);
    expect(userCount(gw)).toBe(before);
  });
});
