// Changing the password and the email of a signed-in user end to end: the current password is required
// (and guessing it is limited like a login), other sessions end, the new address confirms by mail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectFailure,
  login,
  loginOk,
  me,
  newUser,
  OTHER_UA,
  PASSWORD,
  registerAndLogin,
  sleep,
} from '../accounts/support.js';
import { authed, type FlowsGateway, mailCount, mailedToken, openLink, startFlowsGateway } from './support.js';

const NEW_PASSWORD = 'amber-lantern-orchard-58';
const CHANGE = /Confirm your new email address/;

describe('change password and email', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    f = await startFlowsGateway({ yaml: 'sessions: { max_active: 5 }' });
  });
  afterAll(() => f.stop());

  const changePassword = (access: string, current: string, next = NEW_PASSWORD, confirm = next) =>
    authed(f.gw, 'POST', '/api/users/me/password', access, {
      current_password: current,
      new_password: next,
      new_password_confirm: confirm,
    });

  it('changes the password: this session stays, the others end, the old password stops working', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const other = await loginOk(f.gw, user.email, user.password, OTHER_UA);
    const res = await changePassword(pair.access, PASSWORD);
    expect(res.status, res.text).toBe(200);
    expect(res.body?.data).toEqual({ sessions_ended: 1 });
    expect((await me(f.gw, pair.access)).status).toBe(200);
    expectFailure(await me(f.gw, other.access, OTHER_UA), 401, 'token_revoked');
    expectFailure(await login(f.gw, user.email, PASSWORD), 401, 'invalid_credentials');
    expect((await login(f.gw, user.email, NEW_PASSWORD)).status).toBe(200);
    await mailCount(f.sink, user.email, /Your password was changed/, 1);
  });

  it.each([
    ['a wrong current password', 'nope-nope-nope-nope', NEW_PASSWORD, 401, 'invalid_credentials'],
    ['the same password again', PASSWORD, PASSWORD, 400, 'validation_failed'],
    ['a password the policy refuses', PASSWORD, '123456789012345', 400, 'validation_failed'],
  ])('refuses %s and changes nothing', async (_name, current, next, status, code) => {
    const { user, pair } = await registerAndLogin(f.gw);
    const other = await loginOk(f.gw, user.email, user.password, OTHER_UA);
    expectFailure(await changePassword(pair.access, current, next), status, code);
    expect((await me(f.gw, other.access, OTHER_UA)).status).toBe(200);
    expect((await login(f.gw, user.email, PASSWORD)).status).toBe(200);
  });

  it('needs a token: none is 401 missing_token', async () => {
    expectFailure(
      await call(f.gw, 'POST', '/api/users/me/password', { json: { current_password: 'x' } }),
      401,
      'missing_token',
    );
  });

  it('changes the email: confirmed by a link to the new address, the old one is told, every session ends', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const other = await loginOk(f.gw, user.email, user.password, OTHER_UA);
    const next = newUser().email;
    const res = await authed(f.gw, 'POST', '/api/users/me/email', pair.access, {
      password: PASSWORD,
      new_email: next,
    });
    expect(res.status, res.text).toBe(202);
    // The other session ended at once; nothing changed yet.
    expectFailure(await me(f.gw, other.access, OTHER_UA), 401, 'token_revoked');
    expect((await me(f.gw, pair.access)).body?.data?.email).toBe(user.email);
    const notice = await f.sink.waitFor((m) => m.to.includes(user.email) && /being changed/.test(m.subject));
    expect(notice.text).not.toContain(next);

    const { token, link } = await mailedToken(f.sink, next, CHANGE);
    const done = await openLink(f.gw, link);
    expect(done.status, done.text).toBe(200);
    expect(done.body?.data).toEqual({ email: next });
    // Sessions carry the address sent upstream: every one ends, this one too.
    expectFailure(await me(f.gw, pair.access), 401, 'token_revoked');
    expectFailure(await login(f.gw, user.email, PASSWORD), 401, 'invalid_credentials');
    const fresh = await loginOk(f.gw, next, PASSWORD);
    expect((await me(f.gw, fresh.access)).body?.data?.email).toBe(next);
    // security: replay.
    expectFailure(
      await call(f.gw, 'POST', '/api/auth/email-change/confirm', { json: { token } }),
      400,
      'invalid_link',
    );
  });

  it.each([
    ['a wrong password', 'nope-nope-nope-nope', () => newUser().email, 401, 'invalid_credentials'],
    ['an invalid address', PASSWORD, () => 'not-an-address', 400, 'validation_failed'],
  ])('refuses an email change with %s', async (_name, password, email, status, code) => {
    const { pair } = await registerAndLogin(f.gw);
    expectFailure(
      await authed(f.gw, 'POST', '/api/users/me/email', pair.access, { password, new_email: email() }),
      status,
      code,
    );
  });

  it("refuses another account's address (409) and the current one (400)", async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const taken = await registerAndLogin(f.gw);
    const change = (new_email: string) =>
      authed(f.gw, 'POST', '/api/users/me/email', pair.access, { password: PASSWORD, new_email });
    expectFailure(await change(taken.user.email.toUpperCase()), 409, 'email_taken');
    expectFailure(await change(user.email), 400, 'validation_failed');
  });

  it('security: a confirmation link from before another change is refused', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const first = newUser().email;
    const second = newUser().email;
    const change = (access: string, new_email: string) =>
      authed(f.gw, 'POST', '/api/users/me/email', access, { password: PASSWORD, new_email });
    expect((await change(pair.access, first)).status).toBe(202);
    const stale = await mailedToken(f.sink, first, CHANGE);
    // A second request voids the first link.
    expect((await change(pair.access, second)).status).toBe(202);
    expectFailure(await openLink(f.gw, stale.link), 400, 'invalid_link');
    expect((await openLink(f.gw, (await mailedToken(f.sink, second, CHANGE)).link)).status).toBe(200);
    expect((await login(f.gw, second, PASSWORD)).status).toBe(200);
    expectFailure(await login(f.gw, user.email, PASSWORD), 401, 'invalid_credentials');
  });

  it('security: guessing the current password here is limited like a login (lock after the failure limit)', async () => {
    const g = await startFlowsGateway({
      bruteForce: '{ failure_limit: 3, account_failure_limit: 50 }',
    });
    try {
      const { pair } = await registerAndLogin(g.gw);
      const guesses = [];
      for (let i = 0; i < 4; i += 1) {
        const r = await authed(g.gw, 'POST', '/api/users/me/password', pair.access, {
          current_password: `guess-number-${i}-wrong`,
          new_password: NEW_PASSWORD,
          new_password_confirm: NEW_PASSWORD,
        });
        guesses.push(r.body?.code);
      }
      expect(guesses).toEqual([
        'invalid_credentials',
        'invalid_credentials',
        'invalid_credentials',
        'account_locked',
      ]);
    } finally {
      await g.stop();
    }
  });
});

describe('email change mail limits (defaults: 3/h per new address, 5/h per account)', () => {
  let g: FlowsGateway;
  beforeAll(async () => {
    // The other flows' limits do not matter here; the email-change ones keep their defaults.
    g = await startFlowsGateway({
      limits: 'totp: { per_user: 1000/m }',
      yaml: 'sessions: { max_active: 5 }',
    });
  });
  afterAll(() => g.stop());

  const change = (access: string, new_email: string) =>
    authed(g.gw, 'POST', '/api/users/me/email', access, { password: PASSWORD, new_email });

  it('security: an address gets 3 confirmation mails an hour, whichever accounts ask; the 4th request is 429 and mails, ends and changes nothing', async () => {
    const victim = newUser().email;
    const a = await registerAndLogin(g.gw);
    const b = await registerAndLogin(g.gw);
    expect((await change(a.pair.access, victim)).status).toBe(202);
    const pending = await mailedToken(g.sink, victim, CHANGE);
    expect((await change(b.pair.access, victim)).status).toBe(202);
    // Counted on the canonical address: another spelling is the same recipient.
    expect((await change(b.pair.access, ` ${victim.toUpperCase()} `)).status).toBe(202);
    await mailCount(g.sink, victim, CHANGE, 3);
    const other = await loginOk(g.gw, a.user.email, PASSWORD, OTHER_UA);
    const notices = () => g.sink.to(a.user.email).filter((m) => /being changed/.test(m.subject));
    await mailCount(g.sink, a.user.email, /being changed/, 1);

    const limited = await change(a.pair.access, victim);
    expectFailure(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    await sleep(200); // the notice to the old address would go out after the answer
    expect(g.sink.to(victim)).toHaveLength(3);
    expect(notices()).toHaveLength(1);
    expect((await me(g.gw, other.access, OTHER_UA)).status).toBe(200);
    // The refused request voided nothing: the link mailed before it still changes the address.
    const done = await openLink(g.gw, pending.link);
    expect(done.status, done.text).toBe(200);
    expect(done.body?.data).toEqual({ email: victim });
  });

  it('security: an account asks for 5 email changes an hour, whatever the addresses; the 6th is 429 and mails nothing', async () => {
    const { pair } = await registerAndLogin(g.gw);
    const addresses = Array.from({ length: 6 }, () => newUser().email);
    for (const next of addresses.slice(0, 5)) expect((await change(pair.access, next)).status).toBe(202);
    const limited = await change(pair.access, addresses[5]!);
    expectFailure(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    await sleep(200);
    expect(g.sink.to(addresses[5]!)).toHaveLength(0);
    const last = await mailedToken(g.sink, addresses[4]!, CHANGE);
    expect((await openLink(g.gw, last.link)).status).toBe(200);
  });
});
