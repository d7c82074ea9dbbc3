// Re-authentication of a signed-in user (change password, change email, TOTP enroll) end to end: the
// password is guessed under the same login limits, (email, IP) lock and failed-login records as at login.
import { describe, expect, it } from 'vitest';
import { db, expectFailure, login, newUser, PASSWORD, registerAndLogin } from '../accounts/support.js';
import { waitFor } from '../helpers.js';
import { authed, type FlowsGateway, startFlowsGateway } from './support.js';

const NEW_PASSWORD = 'amber-lantern-orchard-58';

/** Each endpoint that asks a signed-in user for the password again, with that password in its body. */
const REAUTHENTICATIONS: [string, string, (password: string) => Record<string, string>][] = [
  [
    'change password',
    '/api/users/me/password',
    (password) => ({
      current_password: password,
      new_password: NEW_PASSWORD,
      new_password_confirm: NEW_PASSWORD,
    }),
  ],
  ['change email', '/api/users/me/email', (password) => ({ password, new_email: newUser().email })],
  ['TOTP enroll', '/api/auth/totp/enroll', (password) => ({ password })],
];

async function withGateway(
  options: Parameters<typeof startFlowsGateway>[0],
  run: (f: FlowsGateway) => Promise<void>,
) {
  const f = await startFlowsGateway(options);
  try {
    await run(f);
  } finally {
    await f.stop();
  }
}

describe('re-authentication', () => {
  it.each(REAUTHENTICATIONS)(
    'security: guessing the password at %s locks the (email, IP) pair like a login, and each guess is a failed login',
    (_name, path, body) =>
      withGateway({ bruteForce: '{ failure_limit: 3, account_failure_limit: 50 }' }, async (f) => {
        const { user, id, pair } = await registerAndLogin(f.gw);
        const codes: (string | undefined)[] = [];
        for (let i = 0; i < 3; i += 1) {
          codes.push(
            (await authed(f.gw, 'POST', path, pair.access, body(`guess-number-${i}-wrong`))).body?.code,
          );
        }
        // The right password no longer helps: the pair is locked, here and at login.
        codes.push((await authed(f.gw, 'POST', path, pair.access, body(PASSWORD))).body?.code);
        expect(codes).toEqual([
          'invalid_credentials',
          'invalid_credentials',
          'invalid_credentials',
          'account_locked',
        ]);
        expectFailure(await login(f.gw, user.email, PASSWORD), 429, 'account_locked');
        const failures = () =>
          db(f.gw, "SELECT details FROM audit_events WHERE type = 'login_failure' AND user_id = ?", id);
        await waitFor(() => failures().length >= 3, 5_000, 'three login_failure events');
        expect(failures().map((r) => JSON.parse(String(r.details)))).toEqual([
          { reason: 'reauth' },
          { reason: 'reauth' },
          { reason: 'reauth' },
        ]);
      }),
  );

  it.each(REAUTHENTICATIONS)(
    'security: guessing the password at %s counts against the login rate limit of the address',
    (_name, path, body) =>
      withGateway({ login: '{ per_email: 3/m, per_ip: 1000/m }' }, async (f) => {
        // The login that made the session is the first of the 3.
        const { user, pair } = await registerAndLogin(f.gw);
        for (let i = 0; i < 2; i += 1) {
          const r = await authed(f.gw, 'POST', path, pair.access, body(`guess-number-${i}-wrong`));
          expectFailure(r, 401, 'invalid_credentials');
        }
        const limited = await authed(f.gw, 'POST', path, pair.access, body(PASSWORD));
        expectFailure(limited, 429, 'rate_limited');
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
        expectFailure(await login(f.gw, user.email, PASSWORD), 429, 'rate_limited');
      }),
  );
});
