// A login's second look at its account, once its session is written. An operator's disable or role
// change, a password change or reset, an address change or "this was not me" that ran while the login
// was hashing ended or rewrote the user's sessions before this one existed, and it would have lived on
// with what they took away. Each of them writes the user store before the state store, so a read made
// after the session became visible sees every change that missed it. Part of accounts.ts.
import { GatewayError } from '../errors.js';
import type { User } from '../users/user-store.js';
import type { AccountDeps } from './account-types.js';

/** Whether a session opened from `opened` still holds for the account as it is `now`. */
function sameAccount(opened: User, now: User): boolean {
  return (
    now.is_active &&
    !now.is_deleted &&
    now.email === opened.email &&
    now.password_hash === opened.password_hash &&
    now.roles.length === opened.roles.length &&
    now.roles.every((role, i) => role === opened.roles[i])
  );
}

/**
 * `changedSince(opened, sid, password)`: null when nothing session `sid` depends on changed. Otherwise
 * the session is ended (`endSession`), then: the account as it is now when only its roles or address
 * changed (the caller opens a session from it), or the error the login answers. `password` is the one
 * the login gave, null when another step checked it (the second factor).
 */
export function createSessionRecheck(
  deps: Pick<AccountDeps, 'users' | 'state' | 'hasher' | 'hooks'>,
  endSession: (userId: string, sid: string) => Promise<unknown>,
) {
  const { users, state, hasher } = deps;
  return async function changedSince(
    opened: User,
    sid: string,
    password: string | null,
  ): Promise<User | null> {
    let now: User | null;
    try {
      now = await users.findById(opened.id);
      if (now !== null && sameAccount(opened, now)) {
        await deps.hooks?.stillAllowed(now);
        return null;
      }
    } catch (err) {
      // The login fails with this error whatever becomes of the session: no one holds its tokens.
      await state.endSession(opened.id, sid, 'token_revoked').catch(() => undefined);
      throw err;
    }
    await endSession(opened.id, sid);
    if (now === null || !now.is_active || now.is_deleted) throw new GatewayError('invalid_credentials');
    // A new hash is a new password, unless the one this login gave still matches it (another login
    // rehashed it for a changed cost). A login another step verified has no password here: it starts over.
    const stillRight =
      now.password_hash === opened.password_hash ||
      (password !== null && (await hasher.verify(now.password_hash, password)));
    if (!stillRight) throw new GatewayError('invalid_credentials');
    return now;
  };
}
