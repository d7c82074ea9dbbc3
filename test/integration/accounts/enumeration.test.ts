// Account enumeration through login, with the real (default) Argon2 parameters: unknown emails,
// wrong passwords and disabled or deleted accounts get the same answer, byte for byte apart from
// per-request headers. That they take the same time is test/conformance/accounts.test.ts's "timing"
// case (the fastest of each side, real cost, retried): a 20 % bound here failed on a loaded machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { db, expectFailure, login, newUser, type Reply, register, startAccountsGateway } from './support.js';

/** Headers that legitimately differ between two requests. */
const PER_REQUEST = new Set([
  'x-request-id',
  'date',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
]);

let gw: TestGateway;
const known = newUser();
const disabled = newUser();
const deleted = newUser();
const WRONG = 'not-the-password-at-all-42';

function comparable(res: Reply): { status: number; text: string; headers: Record<string, unknown> } {
  const headers: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(res.headers)) if (!PER_REQUEST.has(k)) headers[k] = v;
  return { status: res.status, text: res.text, headers };
}

beforeAll(async () => {
  gw = await startAccountsGateway({
    fastHash: false,
    openLimits: false,
    yaml: `
rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1000/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { failure_limit: 1000, account_failure_limit: 1000 }
`,
  });
  for (const u of [known, disabled, deleted]) expect((await register(gw, u)).status).toBe(201);
  db(gw, 'UPDATE users SET is_active = 0 WHERE email = ?', disabled.email);
  db(gw, 'UPDATE users SET is_deleted = 1 WHERE email = ?', deleted.email);
  // The argon2 parameters really are the defaults here: this is what makes the timing meaningful.
  const hash = db(gw, 'SELECT password_hash FROM users WHERE email = ?', known.email)[0]!.password_hash;
  expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
});
afterAll(async () => {
  await gw.stop();
});

describe('login answers reveal nothing about the account', () => {
  it('unknown email, wrong password, disabled and deleted accounts: identical status, body and headers', async () => {
    const wrong = await login(gw, known.email, WRONG);
    expectFailure(wrong, 401, 'invalid_credentials');
    expect(wrong.headers['www-authenticate']).toBeUndefined();
    const cases = [
      await login(gw, `unknown-${known.email}`, WRONG),
      await login(gw, disabled.email, disabled.password),
      await login(gw, disabled.email, WRONG),
      await login(gw, deleted.email, deleted.password),
      await login(gw, deleted.email, WRONG),
    ];
    for (const res of cases) expect(comparable(res)).toEqual(comparable(wrong));
  });

  it('the control: the right password of the active account logs in', async () => {
    expect((await login(gw, known.email, known.password)).status).toBe(200);
  });
});
