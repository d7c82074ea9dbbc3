// Login protections over HTTP, in the contract's order: rate limits, then the (email, IP) lock, then
// the account-wide lock that a known device (its device_token) passes. Client IPs come from
// X-Forwarded-For, believed here because the test connects from a trusted proxy address.
import { afterEach, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { call, db, expectFailure, newUser, type Reply, register, startAccountsGateway } from './support.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const WRONG = 'definitely-not-the-password';

/** `more`: top-level YAML (brute_force, sessions); `login`: the login rate limits. */
function start(more: string, login = '{ per_email: 1000/m, per_ip: 1000/m }'): Promise<TestGateway> {
  return startAccountsGateway({
    openLimits: false,
    base: { server: 'trusted_proxies: [127.0.0.1/32]' },
    yaml: `
rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: ${login}
  register: { per_email: 1000/m, per_ip: 1000/m }
${more}`,
  });
}

function loginFrom(
  g: TestGateway,
  ip: string,
  email: string,
  password: string,
  deviceToken?: string,
): Promise<Reply> {
  return call(g, 'POST', '/api/auth/login', {
    json: { email, password, ...(deviceToken === undefined ? {} : { device_token: deviceToken }) },
    headers: { 'x-forwarded-for': ip },
  });
}

function expectLocked(res: Reply): void {
  expectFailure(res, 429, 'account_locked');
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  expect(Number.isInteger(Number(res.headers['retry-after']))).toBe(true);
}

describe('brute force', () => {
  it('a reload that changes brute_force keeps the locks and counts (memory state; they used to be released)', async () => {
    const limits = (bf: string) => `
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1000/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { ${bf} }`;
    gw = await start('brute_force: { failure_limit: 3, account_failure_limit: 50, cooloff: 1h }');
    const [locked, counting] = [newUser(), newUser()];
    for (const u of [locked, counting]) expect((await register(gw, u)).status).toBe(201);
    for (let i = 0; i < 3; i++) await loginFrom(gw, '203.0.113.1', locked.email, WRONG);
    for (let i = 0; i < 2; i++) await loginFrom(gw, '203.0.113.2', counting.email, WRONG);
    expectLocked(await loginFrom(gw, '203.0.113.1', locked.email, locked.password));

    gw.setYaml(limits('failure_limit: 4, account_failure_limit: 60, cooloff: 2h'));
    expect(await gw.reload()).toMatchObject({ ok: true });
    expectLocked(await loginFrom(gw, '203.0.113.1', locked.email, locked.password));
    // Two failures before the reload, two after: the fourth locks under the new limit.
    for (let i = 0; i < 2; i++)
      expectFailure(await loginFrom(gw, '203.0.113.2', counting.email, WRONG), 401, 'invalid_credentials');
    expectLocked(await loginFrom(gw, '203.0.113.2', counting.email, counting.password));
  });

  it('the failure that reaches failure_limit is a 401; then the (email, IP) pair is locked, right password or not', async () => {
    gw = await start('brute_force: { failure_limit: 3, account_failure_limit: 50, cooloff: 1h }');
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201);
    for (let i = 0; i < 3; i++)
      expectFailure(await loginFrom(gw, '203.0.113.1', u.email, WRONG), 401, 'invalid_credentials');
    expectLocked(await loginFrom(gw, '203.0.113.1', u.email, u.password));
    expectLocked(await loginFrom(gw, '203.0.113.1', u.email.toUpperCase(), WRONG));
    // A stranger's failures do not lock the owner out from elsewhere.
    expect((await loginFrom(gw, '198.51.100.7', u.email, u.password)).status).toBe(200);
  });

  it('a success resets the pair counter (reset_on_success)', async () => {
    gw = await start('brute_force: { failure_limit: 3, account_failure_limit: 50 }');
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201);
    const ip = '203.0.113.2';
    for (let i = 0; i < 2; i++) expect((await loginFrom(gw, ip, u.email, WRONG)).status).toBe(401);
    expect((await loginFrom(gw, ip, u.email, u.password)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await loginFrom(gw, ip, u.email, WRONG)).status).toBe(401);
    expect((await loginFrom(gw, ip, u.email, u.password)).status).toBe(200);
  });

  it('distributed guessing locks the account for new devices; a known device still logs in', async () => {
    gw = await start(
      'sessions: { max_active: 5 }\nbrute_force: { failure_limit: 3, account_failure_limit: 4 }',
    );
    const u = newUser();
    const other = newUser();
    expect((await register(gw, u)).status).toBe(201);
    expect((await register(gw, other)).status).toBe(201);
    const first = await loginFrom(gw, '192.0.2.10', u.email, u.password);
    expect(first.status).toBe(200);
    const deviceToken = first.body!.data!.device_token as string;
    const otherDevice = (await loginFrom(gw, '192.0.2.11', other.email, other.password)).body!.data!
      .device_token as string;

    for (let i = 1; i <= 4; i++) {
      expectFailure(await loginFrom(gw, `203.0.113.${10 + i}`, u.email, WRONG), 401, 'invalid_credentials');
    }
    expectLocked(await loginFrom(gw, '203.0.113.99', u.email, u.password));
    // A garbage device token, or one issued for another email, is ignored.
    expectLocked(await loginFrom(gw, '203.0.113.98', u.email, u.password, 'garbage'));
    expectLocked(await loginFrom(gw, '203.0.113.97', u.email, u.password, otherDevice));
    expect((await loginFrom(gw, '192.0.2.50', u.email, u.password, deviceToken)).status).toBe(200);
  });
});

describe('login rate limits', () => {
  it('per email: over the limit → 429 rate_limited with Retry-After, before any password is checked', async () => {
    gw = await start(
      'brute_force: { failure_limit: 1000, account_failure_limit: 1000 }',
      '{ per_email: 3/m, per_ip: 1000/m }',
    );
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201);
    const answers: Reply[] = [];
    for (let i = 0; i < 3; i++) answers.push(await loginFrom(gw, `203.0.113.${i + 1}`, u.email, WRONG));
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.headers['ratelimit-limit']).toBe('3');
    }
    expect(answers.map((a) => a.headers['ratelimit-remaining'])).toEqual(['2', '1', '0']);
    const limited = await loginFrom(gw, '203.0.113.50', u.email, u.password);
    expectFailure(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Refused before the account was looked at: no login record for it.
    expect(db(gw, 'SELECT count(*) AS n FROM login_records WHERE email = ?', u.email)[0]!.n).toBe(3);
  });

  it("a login refused by its own limit names the global limit's later reset when that one is used up too", async () => {
    gw = await startAccountsGateway({
      openLimits: false,
      base: { server: 'trusted_proxies: [127.0.0.1/32]' },
      yaml: `
rate_limits:
  global: { anonymous: 3/h, authenticated: 100000/h }
  login: { per_email: 1000/m, per_ip: 1/m }
  register: { per_email: 1000/m, per_ip: 1000/m }
brute_force: { failure_limit: 1000, account_failure_limit: 1000 }`,
    });
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201); // global: 1 of 3
    expect((await loginFrom(gw, '127.0.0.1', u.email, u.password)).status).toBe(200); // 2 of 3
    const refused = await loginFrom(gw, '127.0.0.1', u.email, u.password); // 3 of 3; the login's 2 of 1
    expectFailure(refused, 429, 'rate_limited');
    // It said 60 (the login minute): the client retried into the hour's refusal.
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3000);
    expect(refused.headers['ratelimit-limit']).toBe('3');
    expect(refused.headers['ratelimit-remaining']).toBe('0');
    expectFailure(await loginFrom(gw, '127.0.0.1', u.email, u.password), 429, 'rate_limited');
  });

  it('SECURITY: strangers filling the per-email limit do not keep a known device out (it was 429)', async () => {
    gw = await start(
      'sessions: { max_active: 5 }\nbrute_force: { failure_limit: 1000, account_failure_limit: 1000 }',
      '{ per_email: 3/m, per_ip: 1000/m }',
    );
    const u = newUser();
    expect((await register(gw, u)).status).toBe(201);
    const first = await loginFrom(gw, '192.0.2.10', u.email, u.password);
    expect(first.status).toBe(200);
    const deviceToken = first.body!.data!.device_token as string;
    for (let i = 0; i < 3; i++) await loginFrom(gw, `203.0.113.${i + 1}`, u.email, WRONG);
    expectFailure(await loginFrom(gw, '192.0.2.10', u.email, u.password), 429, 'rate_limited');
    // The owner's device, from its usual address or another, still logs in, and is not counted.
    for (const ip of ['192.0.2.10', '198.51.100.4', '192.0.2.10'])
      expect((await loginFrom(gw, ip, u.email, u.password, deviceToken)).status).toBe(200);
    // A wrong password from the known device is still one failure of its (email, IP) pair.
    expectFailure(await loginFrom(gw, '192.0.2.10', u.email, WRONG, deviceToken), 401, 'invalid_credentials');
    expectFailure(await loginFrom(gw, '203.0.113.9', u.email, u.password, 'garbage'), 429, 'rate_limited');
  });

  it('register per email: every answer carries the register limit, refusals included', async () => {
    gw = await startAccountsGateway({
      openLimits: false,
      yaml: `
rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  register: { per_email: 2/m, per_ip: 1000/m }
`,
    });
    const u = newUser();
    const first = await register(gw, u);
    expect(first.status).toBe(201);
    expect([first.headers['ratelimit-limit'], first.headers['ratelimit-remaining']]).toEqual(['2', '1']);
    const taken = await register(gw, { ...u, email: u.email.toUpperCase() });
    expectFailure(taken, 409, 'email_taken');
    expect([taken.headers['ratelimit-limit'], taken.headers['ratelimit-remaining']]).toEqual(['2', '0']);
    expectFailure(await register(gw, u), 429, 'rate_limited');
  });
});
