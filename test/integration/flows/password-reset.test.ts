// Password reset end to end: the request answers the same for every address (status, body, headers,
// timing), is limited per address and per IP; the token is single-use, expiring, stored hashed, acts on
// its own account only; the reset ends every session and the new password must pass the policy.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  db,
  expectFailure,
  login,
  loginOk,
  me,
  newUser,
  PASSWORD,
  registerAndLogin,
} from '../accounts/support.js';
import { type FlowsGateway, mailCount, mailedToken, openLink, startFlowsGateway } from './support.js';

const RESET = /Reset your password/;
const NEW_PASSWORD = 'amber-lantern-orchard-58';

const request = (f: FlowsGateway, email: string, headers: Record<string, string> = {}) =>
  call(f.gw, 'POST', '/api/auth/password-reset/request', { json: { email }, headers });
const confirm = (f: FlowsGateway, token: string, password = NEW_PASSWORD, password_confirm = password) =>
  call(f.gw, 'POST', '/api/auth/password-reset/confirm', { json: { token, password, password_confirm } });

describe('password reset', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    f = await startFlowsGateway({ yaml: 'sessions: { max_active: 5 }' });
  });
  afterAll(() => f.stop());

  it('mails a token; the reset ends every session, the old password stops working, the token works once', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const second = await loginOk(f.gw, user.email, user.password);
    expect((await request(f, user.email)).status).toBe(202);
    const { token, link } = await mailedToken(f.sink, user.email, RESET);

    const check = await openLink(f.gw, link);
    expect(check.status).toBe(200);
    expect(typeof check.body?.data?.expires_at).toBe('string');

    const done = await confirm(f, token);
    expect(done.status, done.text).toBe(200);
    for (const access of [pair.access, second.access])
      expectFailure(await me(f.gw, access), 401, 'token_revoked');
    expectFailure(await login(f.gw, user.email, PASSWORD), 401, 'invalid_credentials');
    expect((await login(f.gw, user.email, NEW_PASSWORD)).status).toBe(200);
    await mailCount(f.sink, user.email, /Your password was changed/, 1);

    // security: replayed token.
    expectFailure(await confirm(f, token, 'another-quiet-meadow-71'), 400, 'invalid_link');
    expectFailure(await openLink(f.gw, link), 400, 'invalid_link');
    // security: neither the token nor the new password reaches the log (GET links included).
    expect(f.gw.rawLog()).not.toContain(token.split('.')[3]!);
    expect(f.gw.rawLog()).not.toContain(NEW_PASSWORD);
  });

  it.each([
    ['too short', 'short', 'short'],
    ['common', 'password1234', 'password1234'],
    ['the current password', PASSWORD, PASSWORD],
    ['not confirmed', NEW_PASSWORD, `${NEW_PASSWORD}x`],
  ])('a new password that is %s is refused and leaves the token usable', async (_name, password, again) => {
    const { user } = await registerAndLogin(f.gw);
    await request(f, user.email);
    const { token } = await mailedToken(f.sink, user.email, RESET);
    expectFailure(await confirm(f, token, password, again), 400, 'validation_failed');
    expect((await confirm(f, token)).status).toBe(200);
  });

  it('security: the token is stored hashed, never as mailed', async () => {
    const { user, id } = await registerAndLogin(f.gw);
    await request(f, user.email);
    const { token } = await mailedToken(f.sink, user.email, RESET);
    const rows = db(
      f.gw,
      "SELECT token_hash, data FROM account_tokens WHERE user_id = ? AND purpose = 'password_reset'",
      id,
    );
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(JSON.stringify(rows)).not.toContain(token.split('.')[3]!);
  });

  it('security: an expired token is refused', async () => {
    const { user, id } = await registerAndLogin(f.gw);
    await request(f, user.email);
    const { token } = await mailedToken(f.sink, user.email, RESET);
    db(f.gw, "UPDATE account_tokens SET expires_at = 1 WHERE user_id = ? AND purpose = 'password_reset'", id);
    expectFailure(await confirm(f, token), 400, 'invalid_link');
    expect((await login(f.gw, user.email, PASSWORD)).status).toBe(200);
  });

  it('security: a newer request voids the older token', async () => {
    const { user } = await registerAndLogin(f.gw);
    await request(f, user.email);
    const first = await mailedToken(f.sink, user.email, RESET);
    await request(f, user.email);
    await mailCount(f.sink, user.email, RESET, 2);
    const second = await mailedToken(f.sink, user.email, RESET);
    expectFailure(await confirm(f, first.token), 400, 'invalid_link');
    expect((await confirm(f, second.token)).status).toBe(200);
  });

  it("security: a token acts on its own account only (Bob's token leaves Alice alone)", async () => {
    const alice = await registerAndLogin(f.gw);
    const bob = await registerAndLogin(f.gw);
    await request(f, bob.user.email);
    const { token } = await mailedToken(f.sink, bob.user.email, RESET);
    // A forged token naming Alice with Bob's nonce and signature fails the signature.
    const forged = token.replace(/^v1\.[0-9a-f]{32}/, `v1.${alice.id}`);
    expectFailure(await confirm(f, forged), 400, 'invalid_link');
    expect((await confirm(f, token)).status).toBe(200);
    expect((await me(f.gw, alice.pair.access)).status).toBe(200);
    expect((await login(f.gw, alice.user.email, PASSWORD)).status).toBe(200);
    expect((await login(f.gw, bob.user.email, NEW_PASSWORD)).status).toBe(200);
  });

  it('security: no enumeration: the same status, body and headers for known and unknown addresses', async () => {
    const { user } = await registerAndLogin(f.gw);
    const shape = (r: Awaited<ReturnType<typeof request>>) => ({
      status: r.status,
      body: r.text,
      headers: Object.keys(r.headers)
        .filter((h) => !['date', 'x-request-id'].includes(h))
        .sort()
        .map((h) => (h.startsWith('ratelimit') ? h : `${h}: ${String(r.headers[h])}`)),
    });
    const known = shape(await request(f, user.email));
    const unknown = shape(await request(f, newUser().email));
    expect(unknown).toEqual(known);
    expect(known.status).toBe(202);
  });

  it('security: no enumeration by timing (the lookup and the mail happen after the answer)', async () => {
    const { user } = await registerAndLogin(f.gw);
    // Measured from another process, as a remote client would: in this one the gateway's background
    // work (token writes, the SMTP session, the sink parsing the mail) shares the test's event loop.
    const [known, unknown] = await timeFromAnotherProcess(
      `${f.gw.url}/api/auth/password-reset/request`,
      user.email,
      25,
    );
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const [k, u] = [median(known), median(unknown)];
    expect(Math.abs(k - u), `median ${k.toFixed(2)} ms (known) vs ${u.toFixed(2)} ms (unknown)`).toBeLessThan(
      5,
    );
  });

  it('a disabled account gets no mail (and the same answer)', async () => {
    const { user, id } = await registerAndLogin(f.gw);
    db(f.gw, 'UPDATE users SET is_active = 0 WHERE id = ?', id);
    expect((await request(f, user.email)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 300));
    expect(f.sink.to(user.email).filter((m) => RESET.test(m.subject))).toHaveLength(0);
  });
});

describe('password reset limits', () => {
  it('security: limited per address, counted the same for known and unknown addresses', async () => {
    const f = await startFlowsGateway({
      limits: 'password_reset: { per_email: 2/h, per_ip: 100/h }',
    });
    try {
      const { user } = await registerAndLogin(f.gw);
      for (const email of [user.email, newUser().email]) {
        const statuses = [];
        const remaining = [];
        for (let i = 0; i < 3; i += 1) {
          const res = await request(f, email);
          statuses.push(res.status);
          remaining.push(`${res.headers['ratelimit-limit']}/${res.headers['ratelimit-remaining']}`);
        }
        expect(statuses).toEqual([202, 202, 429]);
        // The answers name the most constrained limit that applied: the address's, not the global one.
        expect(remaining).toEqual(['2/1', '2/0', '2/0']);
      }
    } finally {
      await f.stop();
    }
  });

  it('security: limited per client IP across addresses', async () => {
    const f = await startFlowsGateway({
      limits: 'password_reset: { per_email: 100/h, per_ip: 3/h }',
      server: 'trusted_proxies: [127.0.0.1]',
    });
    try {
      const from = (ip: string) => ({ 'x-forwarded-for': ip });
      const statuses = [];
      for (let i = 0; i < 4; i += 1)
        statuses.push((await request(f, newUser().email, from('203.0.113.7'))).status);
      expect(statuses).toEqual([202, 202, 202, 429]);
      const other = await request(f, newUser().email, from('198.51.100.7'));
      expect(other.status).toBe(202);
      const limited = await request(f, newUser().email, from('203.0.113.7'));
      expectFailure(limited, 429, 'rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await f.stop();
    }
  });

  it('security: per client IP counts an IPv6 client by its /64 (server.ipv6_limit_prefix)', async () => {
    const f = await startFlowsGateway({
      limits: 'password_reset: { per_email: 100/h, per_ip: 2/h }',
      server: 'trusted_proxies: [127.0.0.1]',
    });
    try {
      const from = (ip: string) => ({ 'x-forwarded-for': ip });
      for (const ip of ['2001:db8:5:6::1', '2001:db8:5:6::2'])
        expect((await request(f, newUser().email, from(ip))).status).toBe(202);
      expectFailure(await request(f, newUser().email, from('2001:db8:5:6:a::3')), 429, 'rate_limited');
      expect((await request(f, newUser().email, from('2001:db8:5:7::1'))).status).toBe(202);
    } finally {
      await f.stop();
    }
  });
});

/** Alternating requests for `known` and fresh unknown addresses from a child process: [known, unknown] ms. */
async function timeFromAnotherProcess(
  url: string,
  known: string,
  rounds: number,
): Promise<[number[], number[]]> {
  const script = `
    const [url, known, rounds] = process.argv.slice(1);
    const post = async (email) => {
      const t = performance.now();
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email }) });
      await r.text();
      if (r.status !== 202) throw new Error('status ' + r.status);
      return performance.now() - t;
    };
    const out = [[], []];
    await post('warm-up@example.com');
    // Spaced out: each answer is timed alone, not behind the previous request's background work.
    const pause = () => new Promise((r) => setTimeout(r, 60));
    for (let i = 0; i < Number(rounds); i += 1) {
      out[0].push(await post(known));
      await pause();
      out[1].push(await post('nobody-' + i + '-' + process.pid + '@example.com'));
      await pause();
    }
    console.log(JSON.stringify(out));
  `;
  // Not spawnSync: the gateway answering it runs on this process's event loop.
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, url, known, String(rounds)]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as [number[], number[]];
}
