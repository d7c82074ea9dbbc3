// Email uniqueness over HTTP: case, surrounding spaces and full-width forms of one address are the
// same account (409 email_taken, one row), and login accepts any of those spellings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { db, expectFailure, login, newUser, register, startAccountsGateway, userCount } from './support.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startAccountsGateway();
});
afterAll(async () => {
  await gw.stop();
});

const VARIANTS = [
  ['lower case', 'alice@example.com'],
  ['upper case', 'ALICE@EXAMPLE.COM'],
  ['surrounding spaces', ' alice@example.com '],
  ['trailing tab', 'alice@example.com\t'],
  ['full-width', 'ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
  ['full-width upper case', 'ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ'],
] as const;

describe('email canonicalisation', () => {
  const owner = newUser({ email: 'Alice@Example.com' });

  beforeAll(async () => {
    const res = await register(gw, owner);
    expect(res.status).toBe(201);
    expect(res.body!.data!.email).toBe('Alice@Example.com');
  });

  it.each(VARIANTS)('registering the %s form → 409 email_taken, still one row', async (_name, email) => {
    const res = await register(gw, newUser({ email }));
    expectFailure(res, 409, 'email_taken');
    expect(db(gw, "SELECT count(*) AS n FROM users WHERE email_canonical = 'alice@example.com'")[0]!.n).toBe(
      1,
    );
  });

  it.each(VARIANTS)('login with the %s form succeeds', async (_name, email) => {
    const res = await login(gw, email, owner.password);
    expect(res.status).toBe(200);
  });

  it('the address is stored as typed (trimmed) and compared canonically', () => {
    const rows = db(
      gw,
      'SELECT email, email_canonical FROM users WHERE email_canonical = ?',
      'alice@example.com',
    );
    expect(rows).toEqual([{ email: 'Alice@Example.com', email_canonical: 'alice@example.com' }]);
  });

  it('a different mailbox that only looks alike (dotless ı) is another account', async () => {
    const before = userCount(gw);
    const res = await register(gw, newUser({ email: 'alıce@example.com' }));
    expect(res.status).toBe(201);
    expect(userCount(gw)).toBe(before + 1);
  });

  it("a deleted account's address stays reserved", async () => {
    const user = newUser({ email: 'Carol@Example.com' });
    expect((await register(gw, user)).status).toBe(201);
    db(gw, 'UPDATE users SET is_deleted = 1 WHERE email = ?', 'Carol@Example.com');
    expectFailure(await register(gw, newUser({ email: 'carol@example.com' })), 409, 'email_taken');
  });

  it('a trimmed-on-register address keeps no spaces', async () => {
    const res = await register(gw, newUser({ email: '  Bob@Example.com  ' }));
    expect(res.status).toBe(201);
    expect(res.body!.data!.email).toBe('Bob@Example.com');
  });
});
