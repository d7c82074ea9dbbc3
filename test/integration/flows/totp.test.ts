// TOTP two-factor end to end: enroll (password required) → otpauth URI → confirm → recovery codes; login
// answers a challenge instead of tokens; the hostile cases: code replay, challenge replay and theft,
// another user's code, recovery code reuse, rate limits, disabling without a code.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteUserStore } from '../../../gateway/users/sqlite-store.js';
import { makeProof, newDpopKey } from '../../support/dpop.js';
import { sendUnderLock } from '../../support/sqlite-lock.js';
import { flipSignature } from '../../support/tamper.js';
import {
  call,
  expectFailure,
  login,
  me,
  newUser,
  OTHER_UA,
  PASSWORD,
  registerAndLogin,
  UA,
} from '../accounts/support.js';
import {
  authed,
  awayFromStepEdge,
  enrollTotp,
  type FlowsGateway,
  startFlowsGateway,
  totpCode,
} from './support.js';

interface Enrolled {
  readonly email: string;
  readonly access: string;
  readonly secret: string;
  readonly recovery: string[];
}

describe('TOTP two-factor', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    f = await startFlowsGateway({ yaml: 'sessions: { max_active: 5 }' });
  });
  afterAll(() => f.stop());

  const completeLogin = (challenge: string, code: string, ua = UA) =>
    call(f.gw, 'POST', '/api/auth/login/totp', { json: { challenge, code }, ua });

  async function challengeFor(email: string, ua = UA): Promise<string> {
    const res = await login(f.gw, email, PASSWORD, { ua });
    expect(res.status, res.text).toBe(200);
    expect(res.body?.data?.access).toBeUndefined();
    expect(res.body?.data?.totp_required).toBe(true);
    return res.body!.data!.challenge as string;
  }

  async function enrolled(): Promise<Enrolled> {
    const { user, pair } = await registerAndLogin(f.gw);
    return { email: user.email, access: pair.access, ...(await enrollTotp(f.gw, pair.access)) };
  }

  it('enroll gives an otpauth:// URI; nothing is on until a code confirms it', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const start = await authed(f.gw, 'POST', '/api/auth/totp/enroll', pair.access, { password: PASSWORD });
    const data = start.body!.data!;
    const uri = new URL(data.otpauth_uri as string);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(uri.searchParams.get('secret')).toBe(data.secret);
    expect(uri.searchParams.get('issuer')).toBe('Portcullis Test');
    expect(decodeURIComponent(uri.pathname)).toContain(user.email);
    expect((await authed(f.gw, 'GET', '/api/auth/totp', pair.access)).body?.data).toEqual({
      enabled: false,
      pending: true,
      recovery_codes_left: 0,
    });
    // Not confirmed: login still gives tokens.
    expect((await login(f.gw, user.email, PASSWORD)).body?.data?.access).toBeTypeOf('string');
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/confirm', pair.access, { code: '000000' }),
      401,
      'invalid_code',
    );
  });

  it('security: enroll needs the password (a stolen access token cannot add its own second factor)', async () => {
    const { pair } = await registerAndLogin(f.gw);
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/enroll', pair.access, { password: 'not-the-password-1' }),
      401,
      'invalid_credentials',
    );
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/confirm', pair.access, { code: '123456' }),
      409,
      'totp_not_pending',
    );
  });

  it('confirm gives ten distinct recovery codes, once; a second enroll is refused', async () => {
    const e = await enrolled();
    expect(e.recovery).toHaveLength(10);
    expect(new Set(e.recovery).size).toBe(10);
    for (const c of e.recovery) expect(c).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    expect((await authed(f.gw, 'GET', '/api/auth/totp', e.access)).body?.data).toEqual({
      enabled: true,
      pending: false,
      recovery_codes_left: 10,
    });
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/enroll', e.access, { password: PASSWORD }),
      409,
      'totp_already_enabled',
    );
  });

  it('a wrong code is answered once its login record (reason invalid_code) is written: a locked database delays the answer', async () => {
    const e = await enrolled();
    const challenge = await challengeFor(e.email);
    const db = join(f.gw.dir, 'users.db');
    await f.gw.services.audit.flush();
    const { reply, answeredAt, releasedAt } = await sendUnderLock(db, () =>
      completeLogin(challenge, '000000'),
    );
    expectFailure(reply, 401, 'invalid_code');
    expect(answeredAt).toBeGreaterThan(releasedAt);
    // No polling: the record is in the gateway's own SQLite file, read over a second connection as an
    // operator's tool would, when the answer is.
    const users = createSqliteUserStore(db);
    try {
      const user = await users.findByEmail(e.email);
      expect((await users.recentLogins(user!.id, 5)).map((l) => [l.success, l.reason])).toContainEqual([
        false,
        'invalid_code',
      ]);
    } finally {
      await users.close();
    }
  });

  it('login answers a challenge; the right code completes it with tokens', async () => {
    const e = await enrolled();
    const challenge = await challengeFor(e.email);
    expectFailure(await completeLogin(challenge, '000000'), 401, 'invalid_code');
    const done = await completeLogin(challenge, totpCode(e.secret, 0));
    expect(done.status, done.text).toBe(200);
    expect(done.body?.data?.token_type).toBe('Bearer');
    expect(typeof done.body?.data?.device_token).toBe('string');
    expect((await me(f.gw, done.body!.data!.access as string)).status).toBe(200);
  });

  it('security: a used code cannot be replayed, not even with a fresh challenge', async () => {
    const e = await enrolled();
    const code = totpCode(e.secret, 0);
    expect((await completeLogin(await challengeFor(e.email), code)).status).toBe(200);
    expectFailure(await completeLogin(await challengeFor(e.email), code), 401, 'invalid_code');
    // The confirm code (next step) is spent too.
    expectFailure(
      await completeLogin(await challengeFor(e.email), totpCode(e.secret, 1)),
      401,
      'invalid_code',
    );
  });

  it('security: a challenge completes one login only', async () => {
    const e = await enrolled();
    const challenge = await challengeFor(e.email);
    expect((await completeLogin(challenge, totpCode(e.secret, 0))).status).toBe(200);
    expectFailure(await completeLogin(challenge, e.recovery[0]!), 401, 'invalid_challenge');
  });

  it('security: a challenge is bound to the User-Agent that gave the password', async () => {
    const e = await enrolled();
    const challenge = await challengeFor(e.email, UA);
    expectFailure(await completeLogin(challenge, totpCode(e.secret, 0), OTHER_UA), 401, 'invalid_challenge');
    expect((await completeLogin(challenge, totpCode(e.secret, 0), UA)).status).toBe(200);
  });

  it.each([
    ['flipped signature', flipSignature],
    ['another user id', (c: string) => c.replace(/^v1\.[0-9a-f]{32}/, `v1.${'1'.repeat(32)}`)],
    ['later expiry', (c: string) => c.replace(/^(v1\.[0-9a-f]{32}\.)\d+/, '$19999999999')],
    ['garbage', () => 'garbage'],
  ])('security: a tampered challenge is invalid_challenge (%s)', async (_name, tamper) => {
    const e = await enrolled();
    const challenge = await challengeFor(e.email);
    expectFailure(await completeLogin(tamper(challenge), totpCode(e.secret, 0)), 401, 'invalid_challenge');
  });

  it("security: another user's valid code does not complete this user's challenge", async () => {
    const alice = await enrolled();
    const bob = await enrolled();
    const challenge = await challengeFor(alice.email);
    expectFailure(await completeLogin(challenge, totpCode(bob.secret, 0)), 401, 'invalid_code');
    expectFailure(await completeLogin(challenge, bob.recovery[0]!), 401, 'invalid_code');
    expect((await completeLogin(challenge, alice.recovery[0]!)).status).toBe(200);
  });

  it('security: a recovery code works once (any spelling), and the count goes down', async () => {
    const e = await enrolled();
    const code = e.recovery[3]!;
    const spelled = ` ${code.toUpperCase().replaceAll('-', ' ')} `;
    const done = await completeLogin(await challengeFor(e.email), spelled);
    expect(done.status, done.text).toBe(200);
    expectFailure(await completeLogin(await challengeFor(e.email), code), 401, 'invalid_code');
    expect(
      (await authed(f.gw, 'GET', '/api/auth/totp', done.body!.data!.access as string)).body?.data
        ?.recovery_codes_left,
    ).toBe(9);
  });

  it('disabling needs a code; a replayed or wrong one is refused; after it login gives tokens again', async () => {
    const e = await enrolled();
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/disable', e.access, { code: '000000' }),
      401,
      'invalid_code',
    );
    // The confirm code was step +1: replaying it is refused.
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/disable', e.access, { code: totpCode(e.secret, 1) }),
      401,
      'invalid_code',
    );
    expect(
      (await authed(f.gw, 'POST', '/api/auth/totp/disable', e.access, { code: totpCode(e.secret, 0) }))
        .status,
    ).toBe(200);
    expect((await login(f.gw, e.email, PASSWORD)).body?.data?.access).toBeTypeOf('string');
    expectFailure(
      await authed(f.gw, 'POST', '/api/auth/totp/disable', e.access, { code: '123456' }),
      409,
      'totp_not_enabled',
    );
    // The old recovery codes died with it.
    const again = await authed(f.gw, 'POST', '/api/auth/totp/enroll', e.access, { password: PASSWORD });
    expect(again.status).toBe(200);
  });

  it('security: the secret is stored sealed, not as the base32 the app got', async () => {
    const e = await enrolled();
    const { db } = await import('../accounts/support.js');
    const rows = db(f.gw, 'SELECT totp_secret FROM account_security WHERE totp_secret IS NOT NULL');
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(e.secret);
    const codes = db(f.gw, 'SELECT code_hash FROM recovery_codes');
    expect(JSON.stringify(codes)).not.toContain(e.recovery[0]!.replaceAll('-', ''));
    // Nor in the log.
    expect(f.gw.rawLog()).not.toContain(e.secret);
    expect(f.gw.rawLog()).not.toContain(e.recovery[0]!);
  });
});

describe('TOTP rate limit', () => {
  it('security: code attempts are limited per user (wrong and right alike), across challenges', async () => {
    const f = await startFlowsGateway({ limits: 'totp: { per_user: 3/m }' });
    try {
      await awayFromStepEdge();
      const { user, pair } = await registerAndLogin(f.gw);
      const start = await authed(f.gw, 'POST', '/api/auth/totp/enroll', pair.access, { password: PASSWORD });
      const secret = start.body!.data!.secret as string;
      // Enroll and confirm used 2 of the 3 attempts.
      expect(
        (await authed(f.gw, 'POST', '/api/auth/totp/confirm', pair.access, { code: totpCode(secret, 1) }))
          .status,
      ).toBe(200);
      const challenge = (await login(f.gw, user.email, PASSWORD)).body!.data!.challenge as string;
      const complete = (code: string) =>
        call(f.gw, 'POST', '/api/auth/login/totp', { json: { challenge, code } });
      expectFailure(await complete('000000'), 401, 'invalid_code');
      const limited = await complete(totpCode(secret, 0));
      expectFailure(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await f.stop();
    }
  });
});

describe('TOTP daily cap', () => {
  it('security: a slow guess under the per-minute limit meets the daily cap (429 with a Retry-After of hours)', async () => {
    const f = await startFlowsGateway({ limits: 'totp: { per_user: 1000/m, per_user_daily: 4/d }' });
    try {
      const { user, pair } = await registerAndLogin(f.gw);
      await enrollTotp(f.gw, pair.access); // enroll and confirm: 2 of the day's 4
      const challenge = (await login(f.gw, user.email, PASSWORD)).body!.data!.challenge as string;
      const complete = (code: string) =>
        call(f.gw, 'POST', '/api/auth/login/totp', { json: { challenge, code } });
      expectFailure(await complete('000000'), 401, 'invalid_code');
      expectFailure(await complete('000001'), 401, 'invalid_code');
      const capped = await complete('000002');
      expectFailure(capped, 429, 'rate_limited');
      expect(Number(capped.headers['retry-after'])).toBeGreaterThan(3_600);
    } finally {
      await f.stop();
    }
  });
});

describe('TOTP in DPoP mode', () => {
  it('security: the challenge completes only with a proof of the key that logged in', async () => {
    const f = await startFlowsGateway({ yaml: 'device_binding: { mode: dpop }' });
    try {
      const key = newDpopKey();
      const proof = (method: string, path: string, token?: string, k = key) =>
        makeProof(k, { htm: method, htu: `${f.gw.url}${path}`, ...(token === undefined ? {} : { token }) });
      const user = newUser();
      expect((await call(f.gw, 'POST', '/api/auth/register', { json: user })).status).toBe(201);
      const loginWithKey = () =>
        call(f.gw, 'POST', '/api/auth/login', {
          json: { email: user.email, password: PASSWORD },
          headers: { dpop: proof('POST', '/api/auth/login') },
        });
      const access = (await loginWithKey()).body!.data!.access as string;
      const bound = (method: string, path: string, json?: unknown) =>
        call(f.gw, method, path, {
          ...(json === undefined ? {} : { json }),
          headers: { authorization: `DPoP ${access}`, dpop: proof(method, path, access) },
        });
      await awayFromStepEdge();
      const secret = (await bound('POST', '/api/auth/totp/enroll', { password: PASSWORD })).body!.data!
        .secret as string;
      expect((await bound('POST', '/api/auth/totp/confirm', { code: totpCode(secret, 1) })).status).toBe(200);

      const challenge = (await loginWithKey()).body!.data!.challenge as string;
      const complete = (headers: Record<string, string>) =>
        call(f.gw, 'POST', '/api/auth/login/totp', {
          json: { challenge, code: totpCode(secret, 0) },
          headers,
        });
      expectFailure(await complete({}), 401, 'invalid_challenge');
      expectFailure(
        await complete({ dpop: proof('POST', '/api/auth/login/totp', undefined, newDpopKey()) }),
        401,
        'invalid_challenge',
      );
      const done = await complete({ dpop: proof('POST', '/api/auth/login/totp') });
      expect(done.status, done.text).toBe(200);
      expect(done.body?.data?.token_type).toBe('DPoP');
    } finally {
      await f.stop();
    }
  });
});
