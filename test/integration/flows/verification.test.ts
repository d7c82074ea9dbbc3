// Email verification end to end: the link mailed on register (built from mail.public_base_url, never the
// Host header), single use, expiry, tampering, the login gate and the rate-limited resend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flipSignature } from '../../support/tamper.js';
import { call, db, expectFailure, login, newUser, PASSWORD, register, UA } from '../accounts/support.js';
import {
  type FlowsGateway,
  mailCount,
  mailedToken,
  openLink,
  PUBLIC_BASE,
  startFlowsGateway,
} from './support.js';

const VERIFY = /Confirm your email address/;

describe('email verification (require_verified_email: true)', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    f = await startFlowsGateway({ auth: 'require_verified_email: true' });
  });
  afterAll(() => f.stop());

  it('mails a link on register; login waits for it; the link works once', async () => {
    const u = newUser();
    expect((await register(f.gw, u)).status).toBe(201);
    const { token, link } = await mailedToken(f.sink, u.email, VERIFY);
    expect(link.startsWith(`${PUBLIC_BASE}/api/auth/verify-email?token=`)).toBe(true);

    expectFailure(await login(f.gw, u.email, u.password), 403, 'email_not_verified');
    const opened = await openLink(f.gw, link);
    expect(opened.status, opened.text).toBe(200);
    expect((await login(f.gw, u.email, u.password)).status).toBe(200);

    // security: a replayed link (GET or POST) is refused.
    expectFailure(await openLink(f.gw, link), 400, 'invalid_link');
    expectFailure(
      await call(f.gw, 'POST', '/api/auth/verify-email', { json: { token } }),
      400,
      'invalid_link',
    );
  });

  it('security: an unverified account with a wrong password is 401, like any wrong password (no enumeration)', async () => {
    const u = newUser();
    await register(f.gw, u);
    expectFailure(await login(f.gw, u.email, `${PASSWORD}-wrong`), 401, 'invalid_credentials');
  });

  it('security: the link is built from public_base_url even when the Host header is forged', async () => {
    const u = newUser();
    await call(f.gw, 'POST', '/api/auth/register', {
      json: u,
      headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' },
    });
    const { link } = await mailedToken(f.sink, u.email, VERIFY);
    expect(new URL(link).origin).toBe(PUBLIC_BASE);
    expect(f.sink.to(u.email)[0]!.text).not.toContain('evil.example');
  });

  it('a HEAD probe (mail scanners) does not spend the link', async () => {
    const u = newUser();
    await register(f.gw, u);
    const { link } = await mailedToken(f.sink, u.email, VERIFY);
    expect((await openLink(f.gw, link, 'HEAD')).status).toBe(200);
    expect((await openLink(f.gw, link)).status).toBe(200);
  });

  it('a link opened with a body that is not JSON is refused (415), like at any own endpoint, and not spent', async () => {
    const u = newUser();
    await register(f.gw, u);
    const { link } = await mailedToken(f.sink, u.email, VERIFY);
    const { pathname, search } = new URL(link);
    const refused = await call(f.gw, 'GET', `${pathname}${search}`, {
      body: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expectFailure(refused, 415, 'unsupported_media_type');
    expect((await openLink(f.gw, link)).status).toBe(200);
  });

  it.each([
    ['flipped signature', flipSignature],
    ['another user id', (t: string) => t.replace(/^v1\.[0-9a-f]{32}/, `v1.${'0'.repeat(32)}`)],
    ['later expiry', (t: string) => t.replace(/^(v1\.[0-9a-f]{32}\.)\d+/, '$19999999999')],
    ['garbage', () => 'not-a-token'],
    ['empty', () => ''],
    ['huge', () => 'v1.'.padEnd(5000, 'a')],
  ])('security: a tampered link is invalid_link (%s) and the real one still works', async (_name, tamper) => {
    const u = newUser();
    await register(f.gw, u);
    const { token } = await mailedToken(f.sink, u.email, VERIFY);
    const bad = await call(f.gw, 'POST', '/api/auth/verify-email', { json: { token: tamper(token) } });
    expect(bad.status === 400 && ['invalid_link', 'validation_failed'].includes(bad.body?.code ?? '')).toBe(
      true,
    );
    expect((await call(f.gw, 'POST', '/api/auth/verify-email', { json: { token } })).status).toBe(200);
  });

  it('security: an expired link is refused (stored expiry moved into the past)', async () => {
    const u = newUser();
    const id = (await register(f.gw, u)).body!.data!.id as string;
    const { token } = await mailedToken(f.sink, u.email, VERIFY);
    db(f.gw, "UPDATE account_tokens SET expires_at = 1 WHERE user_id = ? AND purpose = 'verify_email'", id);
    expectFailure(
      await call(f.gw, 'POST', '/api/auth/verify-email', { json: { token } }),
      400,
      'invalid_link',
    );
  });

  it('security: a reset token cannot be used as a verification link (purpose is signed)', async () => {
    const u = newUser();
    await register(f.gw, u);
    await call(f.gw, 'POST', '/api/auth/password-reset/request', { json: { email: u.email } });
    const { token } = await mailedToken(f.sink, u.email, /Reset your password/);
    expectFailure(
      await call(f.gw, 'POST', '/api/auth/verify-email', { json: { token } }),
      400,
      'invalid_link',
    );
  });

  it('resend answers the same 202 for unknown, unverified and verified addresses; only unverified get mail', async () => {
    const unverified = newUser();
    await register(f.gw, unverified);
    await mailedToken(f.sink, unverified.email, VERIFY);
    const verified = newUser();
    await register(f.gw, verified);
    await openLink(f.gw, (await mailedToken(f.sink, verified.email, VERIFY)).link);
    const unknown = newUser().email;

    const answers = [];
    for (const email of [unverified.email, verified.email, unknown]) {
      const r = await call(f.gw, 'POST', '/api/auth/verify-email/resend', { json: { email } });
      answers.push({ status: r.status, body: r.text });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]!.status).toBe(202);
    await mailCount(f.sink, unverified.email, VERIFY, 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(f.sink.to(verified.email).filter((m) => VERIFY.test(m.subject))).toHaveLength(1);
    expect(f.sink.to(unknown)).toHaveLength(0);
  });

  it('resend voids the earlier link', async () => {
    const u = newUser();
    await register(f.gw, u);
    const first = await mailedToken(f.sink, u.email, VERIFY);
    await call(f.gw, 'POST', '/api/auth/verify-email/resend', { json: { email: u.email } });
    await mailCount(f.sink, u.email, VERIFY, 2);
    const second = await mailedToken(f.sink, u.email, VERIFY);
    expect(second.token).not.toBe(first.token);
    expectFailure(await openLink(f.gw, first.link), 400, 'invalid_link');
    expect((await openLink(f.gw, second.link)).status).toBe(200);
  });
});

describe('resend rate limit and no-mail configuration', () => {
  it('security: resend is limited per address, whether or not it has an account', async () => {
    const f = await startFlowsGateway({
      limits: `verification: { per_email: 2/h, per_ip: 100/h }`,
    });
    try {
      for (const email of [newUser().email, (await registered(f)).email]) {
        const codes = [];
        for (let i = 0; i < 3; i += 1) {
          codes.push((await call(f.gw, 'POST', '/api/auth/verify-email/resend', { json: { email } })).status);
        }
        expect(codes).toEqual([202, 202, 429]);
      }
    } finally {
      await f.stop();
    }
  });

  it('without mail the flows that need it are not served, and login does not ask for verification', async () => {
    const f = await startFlowsGateway({ mail: false });
    try {
      const u = await registered(f);
      expect((await login(f.gw, u.email, u.password)).status).toBe(200);
      for (const path of ['/api/auth/verify-email/resend', '/api/auth/password-reset/request']) {
        expectFailure(await call(f.gw, 'POST', path, { json: { email: u.email } }), 404, 'route_not_found');
      }
      expect(f.sink.messages).toEqual([]);
    } finally {
      await f.stop();
    }
  });
});

async function registered(f: FlowsGateway) {
  const u = newUser();
  const r = await call(f.gw, 'POST', '/api/auth/register', { json: u, ua: UA });
  expect(r.status).toBe(201);
  return u;
}
