// What a change of password or address does to the links and logins it leaves behind: an address change
// asked for with the old password, reset and "not me" links mailed to the old address, and a second-factor
// login begun before "not me". Each was a way to keep or take an account after its owner acted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectFailure,
  login,
  newUser,
  PASSWORD,
  type Pair,
  registerAndLogin,
  UA,
} from '../accounts/support.js';
import {
  authed,
  enrollTotp,
  type FlowsGateway,
  mailedToken,
  openLink,
  startFlowsGateway,
} from './support.js';

const NEW_PASSWORD = 'amber-lantern-orchard-58';
const CHANGE = /Confirm your new email address/;
const RESET = /Reset your password/;
const ALERT = /New sign-in/;

describe('links and logins a change of credentials leaves behind', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    f = await startFlowsGateway({
      server: 'trusted_proxies: [127.0.0.1]',
      yaml: 'sessions: { max_active: 10 }',
    });
  });
  afterAll(() => f.stop());

  /** An address change to a new address, asked for from `access`: its link (mailed to that address). */
  async function pendingChange(access: string): Promise<{ link: string; token: string; to: string }> {
    const to = newUser().email;
    const res = await authed(f.gw, 'POST', '/api/users/me/email', access, {
      password: PASSWORD,
      new_email: to,
    });
    expect(res.status, res.text).toBe(202);
    return { ...(await mailedToken(f.sink, to, CHANGE)), to };
  }

  async function resetLink(email: string): Promise<string> {
    const asked = await call(f.gw, 'POST', '/api/auth/password-reset/request', { json: { email } });
    expect(asked.status).toBe(202);
    return (await mailedToken(f.sink, email, RESET)).token;
  }

  const confirmReset = (token: string) =>
    call(f.gw, 'POST', '/api/auth/password-reset/confirm', {
      json: { token, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD },
    });

  it('SECURITY: a password change voids an address change asked for with the old password', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const change = await pendingChange(pair.access);
    const changed = await authed(f.gw, 'POST', '/api/users/me/password', pair.access, {
      current_password: PASSWORD,
      new_password: NEW_PASSWORD,
      new_password_confirm: NEW_PASSWORD,
    });
    expect(changed.status, changed.text).toBe(200);
    expectFailure(await openLink(f.gw, change.link), 400, 'invalid_link');
    expect((await login(f.gw, user.email, NEW_PASSWORD)).status).toBe(200);
    expectFailure(await login(f.gw, change.to, NEW_PASSWORD), 401, 'invalid_credentials');
  });

  it('SECURITY: a password reset voids an address change asked for with the old password', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const change = await pendingChange(pair.access);
    const reset = await confirmReset(await resetLink(user.email));
    expect(reset.status, reset.text).toBe(200);
    expectFailure(await openLink(f.gw, change.link), 400, 'invalid_link');
    expect((await login(f.gw, user.email, NEW_PASSWORD)).status).toBe(200);
  });

  it('SECURITY: "this was not me" voids an address change the intruder asked for', async () => {
    const { user } = await registerAndLogin(f.gw);
    // The intruder signs in from elsewhere (an alert goes to the owner) and asks to move the account.
    const intruder = await call(f.gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: PASSWORD },
      ua: 'intruder-agent/1.0',
      headers: { 'x-forwarded-for': '192.0.2.66' },
    });
    expect(intruder.status, intruder.text).toBe(200);
    const access = (intruder.body!.data as unknown as Pair).access;
    const to = newUser().email;
    const asked = await call(f.gw, 'POST', '/api/users/me/email', {
      token: access,
      ua: 'intruder-agent/1.0',
      headers: { 'x-forwarded-for': '192.0.2.66' },
      json: { password: PASSWORD, new_email: to },
    });
    expect(asked.status, asked.text).toBe(202);
    const change = await mailedToken(f.sink, to, CHANGE);
    const alert = await mailedToken(f.sink, user.email, ALERT);
    expect((await openLink(f.gw, alert.link)).status).toBe(200);
    expectFailure(await openLink(f.gw, change.link), 400, 'invalid_link');
  });

  it('SECURITY: an address change voids the reset links mailed to the old address', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const oldMailbox = await resetLink(user.email);
    const change = await pendingChange(pair.access);
    expect((await openLink(f.gw, change.link)).status).toBe(200);
    expectFailure(
      await call(f.gw, 'GET', `/api/auth/password-reset/confirm?token=${oldMailbox}`),
      400,
      'invalid_link',
    );
    expectFailure(await confirmReset(oldMailbox), 400, 'invalid_link');
    expect((await login(f.gw, change.to, PASSWORD)).status).toBe(200);
  });

  it('an address someone registered since the request is 409 email_taken, and the link is not spent', async () => {
    const { pair } = await registerAndLogin(f.gw);
    const change = await pendingChange(pair.access);
    await registerAndLogin(f.gw, { email: change.to });
    expectFailure(await openLink(f.gw, change.link), 409, 'email_taken');
    // Still the same answer, not invalid_link: nothing was spent or changed.
    expectFailure(await openLink(f.gw, change.link), 409, 'email_taken');
  });

  it('SECURITY: a second-factor login begun before "not me" cannot be completed after it', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    // A sign-in from another network mails the owner a "not me" link.
    const elsewhere = await call(f.gw, 'POST', '/api/auth/login', {
      json: { email: user.email, password: PASSWORD },
      headers: { 'x-forwarded-for': '192.0.2.66' },
    });
    expect(elsewhere.status, elsewhere.text).toBe(200);
    const notMe = await mailedToken(f.sink, user.email, ALERT);
    const recovery = (await enrollTotp(f.gw, pair.access)).recovery[0]!;
    // Someone with the password (and a recovery code) holds a challenge when the owner answers the alert.
    const first = await login(f.gw, user.email, PASSWORD);
    expect(first.body?.data?.totp_required, first.text).toBe(true);
    expect((await openLink(f.gw, notMe.link)).status).toBe(200);
    const done = await call(f.gw, 'POST', '/api/auth/login/totp', {
      json: { challenge: first.body!.data!.challenge, code: recovery },
      ua: UA,
    });
    expectFailure(done, 403, 'password_reset_required');
  });

  it('SECURITY: a second-factor login begun before a password reset cannot be completed after it', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const { recovery } = await enrollTotp(f.gw, pair.access);
    // Someone with the old password (and a recovery code) holds a challenge when the owner resets.
    const first = await login(f.gw, user.email, PASSWORD);
    expect(first.body?.data?.totp_required, first.text).toBe(true);
    const reset = await confirmReset(await resetLink(user.email));
    expect(reset.status, reset.text).toBe(200);
    const complete = (challenge: unknown, code: string) =>
      call(f.gw, 'POST', '/api/auth/login/totp', { json: { challenge, code }, ua: UA });
    expectFailure(await complete(first.body!.data!.challenge, recovery[0]!), 401, 'invalid_challenge');
    // The owner's login with the new password completes as before.
    const again = await login(f.gw, user.email, NEW_PASSWORD);
    expect((await complete(again.body!.data!.challenge, recovery[1]!)).status).toBe(200);
  });
});
