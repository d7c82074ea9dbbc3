// Operator actions on accounts, shared by the admin API and the `portcullis user` command: each one
// changes the user store, propagates to live sessions in the state store, and writes an audit event.
import type { AuditLog } from './audit.js';
import type { LoginGuard } from './auth/login-guard.js';
import type { PasswordPolicy } from './auth/password-policy.js';
import type { PasswordHasher } from './auth/passwords.js';
import { GatewayError, isErrorCode } from './errors.js';
import { FAILURE_PAUSE_MS, type StateStore } from './state/state-store.js';
import { validateEmail } from './users/email.js';
import { nameError } from './users/names.js';
import type { User, UserStore } from './users/user-store.js';

export interface OperationsDeps {
  readonly users: UserStore;
  readonly state: StateStore;
  readonly audit: AuditLog;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  /** The login guard of the current runtime (its limits follow config reloads). */
  readonly guard: () => LoginGuard;
}

/**
 * Who makes an operator change, as its audit event names them: `actor` is the name ('admin', 'cli') and
 * `ip` the caller's address when one is known (the admin API's peer; the command line has none).
 */
export interface Actor {
  readonly name: string;
  readonly ip: string | null;
}

export const CLI_ACTOR: Actor = Object.freeze({ name: 'cli', ip: null });

/** The audit event fields that name the actor. */
export const actorFields = (actor: Actor) => ({ actor: actor.name, ip: actor.ip });

const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function checkRoles(roles: unknown): string[] {
  if (
    !Array.isArray(roles) ||
    roles.length > 32 ||
    !roles.every((r) => typeof r === 'string' && ROLE.test(r))
  ) {
    throw new GatewayError('validation_failed', {
      message: 'roles: must be a list of at most 32 role names ([A-Za-z0-9_.:-], 1-64 characters)',
    });
  }
  return [...new Set(roles as string[])];
}

/** Pushes of one role change at most before it leaves the rest to the next refresh (pushStoredRoles). */
const MAX_PUSHES = 4;

const sameRoles = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((role, i) => role === b[i]);

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const REFUSED_WHEN_DELETED = {
  enable: 'enabled',
  roles: 'given roles',
  unlock: 'unlocked',
} as const;

/**
 * A deleted account stays deleted and inert: what could give it something back (enable, roles, unlock)
 * is refused, and nothing changes. What only takes access away (disable, revoking sessions, deleting
 * again) is still allowed. Login refuses a deleted account whatever its flags; this keeps the record
 * from saying otherwise.
 */
function refuseIfDeleted(user: User, action: keyof typeof REFUSED_WHEN_DELETED): void {
  if (user.is_deleted) {
    throw new GatewayError('validation_failed', {
      message: `user: the account is deleted; it cannot be ${REFUSED_WHEN_DELETED[action]}`,
    });
  }
}

export function createOperations(deps: OperationsDeps) {
  const { users, state, audit } = deps;

  /** Awaits `step`; if it fails, runs `undo` (best effort) and rethrows the step's error. */
  async function undoUnless(step: Promise<unknown>, undo: () => Promise<unknown>): Promise<void> {
    try {
      await step;
    } catch (err) {
      await undo().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Makes the sessions hold the roles the user store holds: pushes `pushed` (null: read first), then
   * reads the store again after every push, and pushes again while the read differs from the push.
   *
   * Why the sessions end with the stored roles whatever the interleaving of role changes on any number
   * of processes: take the last push P to land in the state store. Its caller read the store after P
   * landed (P's reply came after it landed) and found what P carried, or it would have pushed again
   * and P would not be last. Any role change written after that read pushes after it, so after P:
   * none was. So that read saw the final roles, and P carried them. A refresh's write of roles is
   * refused once a push landed after its read (state-store.ts, rotateRefresh), so it cannot land last
   * with an older read either. Only reads and replies matter: which write reached which store first does
   * not, nor does a push whose reply was lost, since its caller's next push on the same connection lands
   * after it. Past MAX_PUSHES (changes arriving faster than they apply), or when a store fails and
   * repairRoles cannot finish the job either, the next refresh of each session repairs it.
   */
  async function pushStoredRoles(userId: string, pushed: readonly string[] | null): Promise<User | null> {
    let last = pushed;
    for (let push = 0; ; push++) {
      const user = await users.findById(userId);
      if (user === null || (last !== null && sameRoles(user.roles, last)) || push === MAX_PUSHES) return user;
      await state.updateUserSessions(userId, { roles: user.roles });
      last = user.roles;
    }
  }

  /**
   * After a failed push, best effort: the sessions get what the store holds now. A push that timed out
   * may still run (it was sent); the next one on the same connection lands after it. The state store
   * refuses commands for a moment after a timeout, hence a second try once that moment is over.
   */
  async function repairRoles(userId: string): Promise<void> {
    for (const wait of [0, FAILURE_PAUSE_MS + 100]) {
      await pause(wait);
      try {
        await pushStoredRoles(userId, null);
        return;
      } catch {
        // the next try, or the next refresh of each session, repairs
      }
    }
  }

  async function existing(userId: string): Promise<User> {
    const user = await users.findById(userId);
    if (user === null) throw new GatewayError('user_not_found');
    return user;
  }

  return {
    async createUser(
      input: { email: string; password: string; first_name: string; last_name: string; roles?: string[] },
      actor: Actor,
    ): Promise<User> {
      const problem = validateEmail(input.email);
      if (problem !== null) throw new GatewayError('validation_failed', { message: problem });
      // The same rules and trimming as register: an operator can't create what a user couldn't.
      for (const name of ['first_name', 'last_name'] as const) {
        const bad = nameError(name, input[name]);
        if (bad !== null) throw new GatewayError('validation_failed', { message: bad });
      }
      deps.policy.enforce(input);
      const roles = input.roles === undefined ? undefined : checkRoles(input.roles);
      const user = await users.createUser({
        email: input.email.trim(),
        first_name: input.first_name.trim(),
        last_name: input.last_name.trim(),
        password_hash: await deps.hasher.hash(input.password),
        ...(roles === undefined ? {} : { roles }),
      });
      await audit.recordWritten({
        type: 'admin_create_user',
        user_id: user.id,
        ...actorFields(actor),
        details: { roles: [...user.roles] },
      });
      return user;
    },

    async setRoles(userId: string, roles: unknown, actor: Actor): Promise<User> {
      const checked = checkRoles(roles);
      const before = await existing(userId);
      refuseIfDeleted(before, 'roles');
      const written = await users.setRoles(userId, checked);
      if (written === null) throw new GatewayError('user_not_found');
      // Sessions carry the roles the pipeline uses: the change applies on the very next request. If they
      // cannot be changed, neither is the user: an error means nothing changed, and the operator retries.
      // The undo only replaces this call's own value (another change since stands), and the sessions
      // then get whatever the store holds, even if this call's push still lands.
      let user: User | null;
      try {
        await state.updateUserSessions(userId, { roles: written.roles });
        user = await pushStoredRoles(userId, written.roles);
      } catch (err) {
        await users.setRolesIf(userId, written.roles, before.roles).catch(() => undefined);
        await repairRoles(userId);
        throw err;
      }
      await state.dropProfile(userId).catch(() => undefined); // the cache entry expires by itself
      await audit.recordWritten({
        type: 'admin_set_roles',
        user_id: userId,
        ...actorFields(actor),
        details: { roles: checked },
      });
      return user ?? written;
    },

    async setActive(userId: string, active: boolean, actor: Actor): Promise<User> {
      const before = await existing(userId);
      if (active) refuseIfDeleted(before, 'enable');
      const user = (await users.setActive(userId, active))!;
      // A disabled user whose sessions live on would keep every token: undo, so a 503 changes nothing.
      if (!active) {
        await undoUnless(state.endUserSessions(userId, 'token_revoked'), () =>
          users.setActive(userId, before.is_active),
        );
      }
      await state.dropProfile(userId).catch(() => undefined); // the cache entry expires by itself
      await audit.recordWritten({
        type: active ? 'admin_enable' : 'admin_disable',
        user_id: userId,
        ...actorFields(actor),
      });
      return user;
    },

    async unlock(userId: string, actor: Actor): Promise<User> {
      const user = await existing(userId);
      refuseIfDeleted(user, 'unlock');
      await deps.guard().unlock(user.email_canonical);
      await audit.recordWritten({ type: 'unlock', user_id: userId, ...actorFields(actor) });
      return user;
    },

    async revokeSessions(userId: string, actor: Actor): Promise<string[]> {
      // Sessions live in the state store: they can be ended while the user store is down (an incident is
      // when this matters most). An id that names no user then ends no session.
      let storeDown = false;
      await existing(userId).catch((err: unknown) => {
        if (!isErrorCode(err, 'users_unavailable')) throw err;
        storeDown = true;
      });
      const ended = await state.endUserSessions(userId, 'token_revoked');
      const event = {
        type: 'session_revoked',
        user_id: userId,
        ...actorFields(actor),
        details: { sessions: ended },
      } as const;
      // Its event cannot be written now: queued and retried, it does not hold back what only takes access away.
      if (storeDown) audit.record(event);
      else await audit.recordWritten(event);
      return ended;
    },

    /**
     * Soft delete (DELETE /api/users/:id, `portcullis user delete`): the row stays (is_deleted, its email
     * still taken), every session ends (`token_revoked`), the cached profile is dropped, and one
     * `user_deleted` event names the actor. Deleting a deleted account ends its sessions again and
     * changes nothing else (`earlier: true`, no second event): a retry after a 503 finishes the job.
     * A soft delete has no undo in the store, so the sessions end first: with the state store down the
     * call fails before anything changed.
     */
    async deleteUser(
      userId: string,
      actor: Actor,
    ): Promise<{ readonly user: User; readonly earlier: boolean }> {
      const before = await existing(userId);
      let user = before;
      let audited: Promise<void> = Promise.resolve();
      if (!before.is_deleted) {
        const ended = await state.endUserSessions(userId, 'token_revoked');
        const deleted = await users.softDelete(userId);
        if (deleted === null) throw new GatewayError('user_not_found');
        user = deleted;
        // Recorded once the row says deleted: from here the deletion stands, whatever follows fails.
        audited = audit.recordWritten({
          type: 'user_deleted',
          user_id: userId,
          ...actorFields(actor),
          details: { sessions: ended },
        });
        audited.catch(() => undefined); // awaited below, after the second sweep, which must run regardless
      }
      // Again, after the row changed: a login that read the account before and wrote its session after
      // the first call would otherwise keep it (its own second look, session-recheck.ts, may be too early).
      await state.endUserSessions(userId, 'token_revoked');
      await state.dropProfile(userId).catch(() => undefined); // the cache entry expires by itself
      await audited;
      return { user, earlier: before.is_deleted };
    },
  };
}

export type Operations = ReturnType<typeof createOperations>;
