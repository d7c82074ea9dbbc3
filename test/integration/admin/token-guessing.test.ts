// Brute-force protection of the admin token: refusals at the /api/* gate count per client address, and
// once admin.token_failures is used up that address's calls are 429 until the window ends, the token
// unread; one warn line says so and the 429s are logged at info.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../../support/gateway.js';
import { expectFailure } from '../accounts/support.js';
import { waitFor } from '../helpers.js';
import { type AdminFixture, admin, adminOk, startAdminFixture } from './support.js';

let fx: AdminFixture;

beforeAll(async () => {
  fx = await startAdminFixture({ base: { admin: 'token_failures: 3/m' } });
});
afterAll(() => fx.close());

type Line = Record<string, unknown>;
const lines = (msg: RegExp): Line[] => fx.gw.logs.filter((l) => typeof l.msg === 'string' && msg.test(l.msg));

describe('admin token guessing', () => {
  it('SECURITY: after admin.token_failures refusals from one address, even the right token is 429 until the window ends', async () => {
    // Right tokens do not count: the operator's own calls never lock anyone out.
    for (let i = 0; i < 5; i++) await adminOk(fx.gw, 'GET', '/api/routes');
    const guesses = [
      null,
      'wrong-token-aaaaaaaaaaaaaaaaaaaaaaaaaa',
      'wrong-token-bbbbbbbbbbbbbbbbbbbbbbbbbb',
    ];
    for (const token of guesses) {
      const res = await admin(fx.gw, 'GET', '/api/stats', { token });
      expectFailure(res, 401, token === null ? 'missing_token' : 'invalid_token');
    }
    // The window's refusals are used up: the next call is refused before its token is read.
    const locked = await admin(fx.gw, 'GET', '/api/routes');
    expectFailure(locked, 429, 'rate_limited');
    const retryAfter = Number(locked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(locked.headers['ratelimit-limit']).toBe('3');
    expect(locked.headers['ratelimit-remaining']).toBe('0');
    // A wrong token is refused alike (counted too, but the lock still ends with the window).
    expectFailure(
      await admin(fx.gw, 'GET', '/api/routes', { token: 'wrong-token-cccccccccccccccccccccc' }),
      429,
      'rate_limited',
    );
    // The probes and /metrics are not behind the gate: they still answer.
    expect((await admin(fx.gw, 'GET', '/healthz', { token: null })).status).toBe(200);
    expect((await admin(fx.gw, 'GET', '/metrics', { token: null })).status).toBe(200);
  });

  it('one warn line for the lock, and the refused calls after it at info (a guessing run cannot flood the log)', async () => {
    await waitFor(() => lines(/too many refusals/).length === 1, 2_000, 'the lock line');
    expect(lines(/too many refusals/)[0]).toMatchObject({ level: 'warn', ip: '127.0.0.1', refusals: 3 });
    for (let i = 0; i < 5; i++)
      expectFailure(await admin(fx.gw, 'GET', '/api/audit', { token: 'x'.repeat(40) }), 429, 'rate_limited');
    await waitFor(
      () => fx.gw.logs.filter((l) => l.msg === 'admin request' && l.path === '/api/audit').length === 5,
      2_000,
      'five request lines',
    );
    const audit = fx.gw.logs.filter((l) => l.msg === 'admin request' && l.path === '/api/audit');
    expect(audit.every((l) => l.level === 'info' && l.status === 429 && l.code === 'rate_limited')).toBe(
      true,
    );
    // Three refusals at the gate were warn lines; nothing after the lock was.
    const warned = fx.gw.logs.filter((l) => l.msg === 'admin request' && l.level === 'warn');
    expect(warned).toHaveLength(3);
    expect(lines(/too many refusals/)).toHaveLength(1);
  });

  it('/metrics counts the locked-out calls under status="429"', async () => {
    const metrics = await admin(fx.gw, 'GET', '/metrics', { token: null });
    const m = /^portcullis_admin_requests_total\{status="429"\} (\S+)$/m.exec(metrics.text);
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(7);
  });
});

describe('admin.token_failures on reload', () => {
  it('a reload that changes the rate applies it to the counts so far (they are kept, as on Redis)', async () => {
    // The test gateway reads `base` again on every reload.
    const base = { admin: 'token_failures: 2/m' };
    const gw = await startTestGateway('routes: []', { base });
    try {
      for (const token of [
        'wrong-token-aaaaaaaaaaaaaaaaaaaaaaaaaa',
        'wrong-token-bbbbbbbbbbbbbbbbbbbbbbbbbb',
      ]) {
        expectFailure(await admin(gw, 'GET', '/api/routes', { token }), 401, 'invalid_token');
      }
      expectFailure(await admin(gw, 'GET', '/api/routes'), 429, 'rate_limited');
      base.admin = 'token_failures: 5/m';
      expect((await gw.reload()).ok).toBe(true);
      // Under the raised limit the address is no longer refused, but its two failures still count:
      // three more are left, not five (a reload must not hand a guesser a fresh allowance).
      await adminOk(gw, 'GET', '/api/routes');
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await admin(gw, 'GET', '/api/routes', {
          token: `wrong-token-${i}-cccccccccccccccccccccccc`,
        });
        statuses.push(r.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const locked = await admin(gw, 'GET', '/api/routes');
      expectFailure(locked, 429, 'rate_limited');
      expect(locked.headers['ratelimit-limit']).toBe('5');
    } finally {
      await gw.stop();
    }
  });
});
