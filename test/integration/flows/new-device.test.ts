// New-device alerts end to end (client IPs set through a trusted proxy): which logins alert, what the
// mail says, and the "not me" link: every session ends, login waits for a reset, the link works once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectFailure,
  type NewUser,
  newUser,
  OTHER_UA,
  PASSWORD,
  type Pair,
  register,
  UA,
} from '../accounts/support.js';
import {
  type FlowsGateway,
  mailCount,
  mailedToken,
  openLink,
  PUBLIC_BASE,
  startFlowsGateway,
} from './support.js';

const ALERT = /New sign-in/;
const NEW_PASSWORD = 'amber-lantern-orchard-58';

describe('new-device alerts', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    f = await startFlowsGateway({
      server: 'trusted_proxies: [127.0.0.1]',
      yaml: 'sessions: { max_active: 10 }',
    });
  });
  afterAll(() => f.stop());

  const loginFrom = async (u: NewUser, ip: string, ua = UA, password = u.password) =>
    call(f.gw, 'POST', '/api/auth/login', {
      json: { email: u.email, password },
      ua,
      headers: { 'x-forwarded-for': ip },
    });
  const meFrom = (access: string, ip: string, ua = UA) =>
    call(f.gw, 'GET', '/api/users/me', { token: access, ua, headers: { 'x-forwarded-for': ip } });
  const alerts = (u: NewUser) => f.sink.to(u.email).filter((m) => ALERT.test(m.subject));
  const settle = () => new Promise((r) => setTimeout(r, 300));

  async function registered(): Promise<NewUser> {
    const u = newUser();
    expect((await register(f.gw, u)).status).toBe(201);
    return u;
  }

  it('no alert for the first login, the same device and network, or the same device in the same /24', async () => {
    const u = await registered();
    for (const ip of ['203.0.113.10', '203.0.113.10', '203.0.113.200']) {
      expect((await loginFrom(u, ip)).status).toBe(200);
    }
    await settle();
    expect(alerts(u)).toHaveLength(0);
  });

  it.each([
    ['a new network', '198.51.100.20', UA],
    ['a new device', '203.0.113.10', OTHER_UA],
  ])(
    'alerts on %s with the time, IP, User-Agent and a link from the public base URL',
    async (_name, ip, ua) => {
      const u = await registered();
      await loginFrom(u, '203.0.113.10');
      const before = Date.now();
      expect((await loginFrom(u, ip, ua)).status).toBe(200);
      const { link } = await mailedToken(f.sink, u.email, ALERT);
      const mail = alerts(u)[0]!;
      expect(mail.text).toContain(ip);
      expect(mail.text).toContain(`"${ua}"`);
      const when = /Time:\s+(\S+)/.exec(mail.text)?.[1];
      expect(Math.abs(Date.parse(when!) - before)).toBeLessThan(5_000);
      expect(link.startsWith(`${PUBLIC_BASE}/api/auth/sessions/not-me?token=`)).toBe(true);
    },
  );

  it('IPv6 clients are compared by /64', async () => {
    const u = await registered();
    await loginFrom(u, '2001:db8:1:2::10');
    await loginFrom(u, '2001:db8:1:2:ffff::1');
    await settle();
    expect(alerts(u)).toHaveLength(0);
    await loginFrom(u, '2001:db8:1:3::10');
    await mailCount(f.sink, u.email, ALERT, 1);
  });

  it('"not me" ends every session, blocks login until a reset, and mails a reset link; the link works once', async () => {
    const u = await registered();
    const mine = (await loginFrom(u, '203.0.113.10')).body!.data as unknown as Pair;
    const intruder = (await loginFrom(u, '192.0.2.66', OTHER_UA)).body!.data as unknown as Pair;
    const { link } = await mailedToken(f.sink, u.email, ALERT);

    const res = await openLink(f.gw, link);
    expect(res.status, res.text).toBe(200);
    expect(res.body?.data).toEqual({ sessions_ended: 2 });
    expectFailure(await meFrom(intruder.access, '192.0.2.66', OTHER_UA), 401, 'token_revoked');
    expectFailure(await meFrom(mine.access, '203.0.113.10'), 401, 'token_revoked');
    // The password is presumed known: right or not, login waits for the reset.
    expectFailure(await loginFrom(u, '192.0.2.66', OTHER_UA), 403, 'password_reset_required');
    expectFailure(
      await loginFrom(u, '203.0.113.10', UA, 'wrong-password-here-1'),
      401,
      'invalid_credentials',
    );

    const reset = await mailedToken(f.sink, u.email, /Reset your password/);
    const done = await call(f.gw, 'POST', '/api/auth/password-reset/confirm', {
      json: { token: reset.token, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD },
    });
    expect(done.status, done.text).toBe(200);
    expect((await loginFrom(u, '203.0.113.10', UA, NEW_PASSWORD)).status).toBe(200);
    expectFailure(await loginFrom(u, '203.0.113.10', UA, PASSWORD), 401, 'invalid_credentials');
    // security: replay.
    expectFailure(await openLink(f.gw, link), 400, 'invalid_link');
  });

  it("security: one user's alert link cannot act on another account", async () => {
    const alice = await registered();
    const bob = await registered();
    await loginFrom(alice, '203.0.113.10');
    const bobSession = (await loginFrom(bob, '203.0.113.10')).body!.data as unknown as Pair;
    await loginFrom(alice, '198.51.100.5');
    const { token } = await mailedToken(f.sink, alice.email, ALERT);
    const bobId = (await meFrom(bobSession.access, '203.0.113.10')).body!.data!.id as string;
    const forged = token.replace(/^v1\.[0-9a-f]{32}/, `v1.${bobId}`);
    expectFailure(
      await call(f.gw, 'POST', '/api/auth/sessions/not-me', { json: { token: forged } }),
      400,
      'invalid_link',
    );
    expect((await meFrom(bobSession.access, '203.0.113.10')).status).toBe(200);
  });

  it('a HEAD probe of the link (mail scanners) acts on nothing', async () => {
    const u = await registered();
    const session = (await loginFrom(u, '203.0.113.10')).body!.data as unknown as Pair;
    await loginFrom(u, '198.51.100.77');
    const { link } = await mailedToken(f.sink, u.email, ALERT);
    expect((await openLink(f.gw, link, 'HEAD')).status).toBe(200);
    expect((await meFrom(session.access, '203.0.113.10')).status).toBe(200);
  });
});

describe('new-device alerts off', () => {
  it('auth.new_device_alert: false sends nothing', async () => {
    const f = await startFlowsGateway({
      auth: 'new_device_alert: false',
      server: 'trusted_proxies: [127.0.0.1]',
    });
    try {
      const u = newUser();
      await register(f.gw, u);
      for (const ip of ['203.0.113.1', '198.51.100.1']) {
        await call(f.gw, 'POST', '/api/auth/login', {
          json: { email: u.email, password: PASSWORD },
          headers: { 'x-forwarded-for': ip },
        });
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(f.sink.to(u.email).filter((m) => ALERT.test(m.subject))).toHaveLength(0);
    } finally {
      await f.stop();
    }
  });
});
