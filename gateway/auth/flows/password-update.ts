// Setting a new password, shared by the reset and change flows: the policy, "not the old one", the hash,
// and the sessions that must end with the old password. Who may set it is the callers' business.
import { GatewayError } from '../../errors.js';
import { passwordChangedNotice } from '../../mail/messages.js';
import type { StateStore } from '../../state/state-store.js';
import type { User } from '../../users/user-store.js';
import type { ClientMeta } from '../accounts.js';
import { type FlowDeps, sendLater } from './context.js';

/** Ends every session of the user but `keep` (null: all of them); returns the ids ended. */
export async function endOtherSessions(
  state: StateStore,
  userId: string,
  keep: string | null,
): Promise<string[]> {
  if (keep === null) return state.endUserSessions(userId, 'token_revoked');
  const ended: string[] = [];
  for (const s of await state.listUserSessions(userId)) {
    if (s.sid !== keep && (await state.endSession(userId, s.sid, 'token_revoked'))) ended.push(s.sid);
  }
  return ended;
}

export interface NewPassword {
  readonly password: string;
  readonly confirm: string;
  /** How the fields are called in this request body, for the validation messages. */
  readonly fields: readonly [password: string, confirm: string];
}

export function createPasswordUpdate(deps: FlowDeps) {
  const { users, data, state, hasher, policy, config } = deps;

  return {
    /** Throws validation_failed naming the field; costs one hash comparison (the "not the old one" rule). */
    async check(user: User, next: NewPassword): Promise<void> {
      const [field, confirmField] = next.fields;
      if (next.password !== next.confirm) {
        throw new GatewayError('validation_failed', { message: `${confirmField}: passwords do not match` });
      }
      policy.enforce({
        password: next.password,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
      });
      if ([...next.password].length <= config.passwords.max_length) {
        if (await hasher.verify(user.password_hash, next.password)) {
          throw new GatewayError('validation_failed', {
            message: `${field}: must differ from the current password`,
          });
        }
      }
    },

    /**
     * Stores the new hash, then ends the sessions (all but `keepSid`) and the outstanding links that the
     * old password's holder might still use: reset links, and an address change whoever held the old
     * password may have asked for (it would move the account away after the password changed). If the
     * sessions cannot be ended the old hash is put back and the error thrown: a 503 changes nothing.
     * Returns the session ids ended.
     */
    async apply(user: User, password: string, meta: ClientMeta, keepSid: string | null, how: string) {
      await users.updatePasswordHash(user.id, await hasher.hash(password));
      let ended: string[];
      try {
        ended = await endOtherSessions(state, user.id, keepSid);
      } catch (err) {
        await users.updatePasswordHash(user.id, user.password_hash).catch(() => undefined);
        throw err;
      }
      await data.voidTokens(user.id, 'password_reset');
      await data.voidTokens(user.id, 'email_change');
      await state.dropProfile(user.id).catch(() => undefined);
      const at = new Date(deps.now());
      sendLater(deps, 'password_changed', async () => passwordChangedNotice(user, at, meta.ip, how));
      return ended;
    },
  };
}

export type PasswordUpdate = ReturnType<typeof createPasswordUpdate>;
