// Operator actions on accounts, shared by the admin API and the `portcullis user` command: each one
// changes the user store, propagates to live sessions in the state store, and writes an audit event.
import type { AuditLog } from './audit.js';
import type { LoginGuard } from './auth/login-guard.js';
import type { PasswordPolicy } from './auth/password-policy.js';
import type { PasswordHasher } from './auth/passwords.js';
import { GatewayError } from './errors.js';
import type { StateStore } from './state/state-store.js';
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

export function createOperations(deps: OperationsDeps) {
  const { users, state, audit } = deps;

  async function existing(userId: string): Promise<User> {
    const user = await users.findById(userId);
    if (user === null) throw new GatewayError('user_not_found');
    return user;
  }

  return {
    async createUser(
      input: { email: string; password: string; first_name: string; last_name: string; roles?: string[] },
      actor: string,
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
      audit.record({ type: 'admin_create_user', user_id: user.id, actor });
      return user;
    },

    async setRoles(userId: string, roles: unknown, actor: string): Promise<User> {
      const checked = checkRoles(roles);
      await existing(userId);
      const user = (await users.setRoles(userId, checked))!;
      // Sessions carry the roles the pipeline uses: the change applies on the very next request.
      await state.updateUserSessions(userId, { roles: checked });
      await state.dropProfile(userId);
      audit.record({ type: 'admin_set_roles', user_id: userId, actor, details: { roles: checked } });
      return user;
    },

    async setActive(userId: string, active: boolean, actor: string): Promise<User> {
      await existing(userId);
      const user = (await users.setActive(userId, active))!;
      if (!active) await state.endUserSessions(userId, 'token_revoked');
      await state.dropProfile(userId);
      audit.record({ type: active ? 'admin_enable' : 'admin_disable', user_id: userId, actor });
      return user;
    },

    async unlock(userId: string, actor: string): Promise<User> {
      const user = await existing(userId);
      await deps.guard().unlock(user.email_canonical);
      audit.record({ type: 'unlock', user_id: userId, actor });
      return user;
    },

    async revokeSessions(userId: string, actor: string): Promise<string[]> {
      await existing(userId);
      const ended = await state.endUserSessions(userId, 'token_revoked');
      audit.record({ type: 'session_revoked', user_id: userId, actor, details: { sessions: ended } });
      return ended;
    },
  };
}

export type Operations = ReturnType<typeof createOperations>;
