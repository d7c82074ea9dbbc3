// Re-authentication of a signed-in user before a change a stolen access token must not make alone
// (password, email, a second factor). Not a login: no session, no second factor, no login record.
import { GatewayError } from '../../errors.js';
import type { User } from '../../users/user-store.js';
import type { ClientMeta, LimitReporter } from '../accounts.js';
import type { AccessClaims } from '../tokens.js';
import { type FlowDeps, usable } from './context.js';

/**
 * The password is checked under the login rate limits and the (email, IP) lock, and a wrong one is
 * recorded as a failed login: guessing it with a stolen access token is no cheaper than at login.
 */
export async function reauthenticate(
  deps: FlowDeps,
  claims: AccessClaims,
  password: string,
  meta: ClientMeta,
  report: LimitReporter,
): Promise<User> {
  const { config, users, hasher, guard, audit } = deps;
  const user = await users.findById(claims.sub);
  if (!usable(user)) throw new GatewayError('token_revoked');
  // Counted per email too (unlike a login from a known device): a stolen access token must not buy
  // unlimited guesses from many addresses. A signed-in device is a known device for the lock: only its
  // own (email, IP) counter applies, not the account-wide lock.
  const limits = await guard.limitLogin(user.email_canonical, meta.ipKey, false);
  report(limits.states);
  const attempt = await limits.begin(true);
  const tooLong = [...password].length > config.passwords.max_length;
  const ok = tooLong ? await hasher.verifyDummy(password) : await hasher.verify(user.password_hash, password);
  if (!ok) {
    await attempt.failed();
    audit.record({ type: 'login_failure', user_id: user.id, ip: meta.ip, details: { reason: 'reauth' } });
    throw new GatewayError('invalid_credentials');
  }
  await attempt.succeeded();
  return user;
}
