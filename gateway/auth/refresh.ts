// Refresh: rotates the presented refresh token (once; a token spent within the grace gets a new pair,
// one spent earlier revokes the session), checks the session's device binding, and issues a new access
// token with the user's current roles, which the rotation also writes into the session record. Part of
// the account operations (accounts.ts).
import { isErrorCode } from '../errors.js';
import { tokenError } from '../pipeline/authenticate.js';
import type { RolesOf } from '../state/state-store.js';
import type { User } from '../users/user-store.js';
import type { AccountDeps, ClientMeta, TokenPair } from './account-types.js';
import { isDpopDevice, presentedDevice } from './binding.js';
import { dpopError } from './dpop.js';
import { hashRefreshToken, isRefreshTokenFormat, newRefreshToken } from './refresh-tokens.js';

/** What refresh shares with login (accounts.ts): the device a request presents and how tokens are issued. */
export interface RefreshIssuing {
  deviceOf(meta: ClientMeta): string;
  issueAccess(user: Pick<User, 'id' | 'roles'>, sid: string, device: string): Promise<string>;
  tokenTypeOf(device: string): 'DPoP' | 'Bearer';
  readonly expiresIn: number;
}

export function createRefresh(
  deps: AccountDeps,
  { deviceOf, issueAccess, tokenTypeOf, expiresIn }: RefreshIssuing,
): (presented: unknown, meta: ClientMeta) => Promise<TokenPair> {
  const { config, users, state, audit, log } = deps;
  const binding = config.device_binding.mode;
  return async function refresh(presented: unknown, meta: ClientMeta): Promise<TokenPair> {
    if (!isRefreshTokenFormat(presented)) throw tokenError('invalid_token');
    const next = newRefreshToken();
    const device = deviceOf(meta);
    const t = config.tokens;
    // The account, read by the rotation once it knows whose token this is (its only user-store read).
    // If the user store fails, the session record answers: it holds the roles and active flag every
    // request is checked against, and the rotation leaves them as they are.
    let asked = false;
    let account: Pick<User, 'roles' | 'is_active' | 'is_deleted'> | null | undefined;
    const read = async (userId: string) => {
      asked = true;
      account = await users.findById(userId).catch((err: unknown) => {
        if (!isErrorCode(err, 'users_unavailable')) throw err;
        log.warn({ err, user: userId }, 'refresh: user store failed; roles taken from the session');
        return undefined;
      });
      return account;
    };
    // The session gets the stored roles (any divergence from the user store ends here), unless a role
    // change reached the sessions after this read: that one is newer (state-store.ts, rotateRefresh).
    const rolesOf: RolesOf = async (userId) => (await read(userId))?.roles ?? null;
    const rotate = (presenting: string) =>
      state.rotateRefresh(
        hashRefreshToken(presented),
        next.hash,
        Date.now(),
        t.refresh_reuse_grace,
        t.refresh_ttl,
        presenting,
        rolesOf,
      );
    let result = await rotate(device);
    // A proof sent with the refresh of a session its login did not bind to a key (a mismatch changes
    // nothing): that session's own binding decides, as if no proof had been sent.
    if (
      result.kind === 'device_mismatch' &&
      isDpopDevice(device) &&
      !isDpopDevice(result.session.device) &&
      binding !== 'dpop'
    ) {
      result = await rotate(presentedDevice(binding, { userAgent: meta.userAgent }));
    }
    switch (result.kind) {
      case 'unknown':
        throw tokenError(result.reason ?? 'invalid_token');
      case 'reused':
        audit.record({
          type: 'refresh_reused',
          user_id: result.session.user_id,
          ip: meta.ip,
          details: { sid: result.session.sid },
        });
        throw tokenError('refresh_reused');
      case 'device_mismatch': {
        const s = result.session;
        if (config.device_binding.on_mismatch === 'revoke')
          await state.endSession(s.user_id, s.sid, 'token_revoked');
        audit.record({
          type: 'device_mismatch',
          user_id: s.user_id,
          ip: meta.ip,
          details: { sid: s.sid, via: 'refresh' },
        });
        // A key-bound session needs a proof by its key (RFC 9449 §5): the DPoP challenge says so.
        throw isDpopDevice(s.device)
          ? dpopError('the refresh proof is missing or not by the key the session is bound to')
          : tokenError('device_mismatch');
      }
    }
    const session = result.session;
    // The presented token is spent now: failing here would turn the client's retry, once the grace
    // is over, into refresh_reused. `account` is undefined when the user store failed.
    if (!asked) await read(session.user_id); // a store that rotated without asking rolesOf
    const user = account ?? { is_active: session.active, is_deleted: false };
    if (user === null || !user.is_active || user.is_deleted) {
      await state.endSession(session.user_id, session.sid, 'token_revoked');
      throw tokenError('token_revoked');
    }
    // The session's roles after the rotation: the stored ones, or a newer change's. The token says
    // what every request of this session is authorized by.
    return {
      access: await issueAccess({ id: session.user_id, roles: session.roles }, session.sid, session.device),
      refresh: next.token,
      token_type: tokenTypeOf(session.device),
      expires_in: expiresIn,
    };
  };
}
