// The types of the account operations (inputs, results, hooks) and the public view of a user, shared
// by accounts.ts, the endpoints and the account flows. No behaviour beyond publicUser().
import type { GatewayConfig } from '../../config/types.js';
import type { AuditLog } from '../audit.js';
import type { Logger } from '../logger.js';
import type { LimitState } from '../state/limiter.js';
import type { SessionRecord, StateStore } from '../state/state-store.js';
import type { User, UserStore } from '../users/user-store.js';
import type { LoginGuard } from './login-guard.js';
import type { PasswordPolicy } from './password-policy.js';
import type { HashClient, PasswordHasher } from './passwords.js';
import type { TokenService } from './tokens.js';

export interface AccountDeps {
  /** The account flows (gateway/auth/flows): verification, second factor, new-device alerts. */
  readonly hooks?: AccountHooks;
  readonly config: GatewayConfig;
  readonly users: UserStore;
  readonly state: StateStore;
  readonly tokens: TokenService;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly guard: LoginGuard;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Counts account checks skipped under `on_state_error: allow`. */
  readonly onStateSkip: () => void;
}

export interface ClientMeta {
  readonly ip: string;
  /** What per-address limits and locks count under (RequestContext.clientIpKey): never recorded as the IP. */
  readonly ipKey: string;
  readonly userAgent: string;
  /** DPoP mode: the thumbprint of the key whose proof the request carried (verified by the pipeline). */
  readonly dpopJkt?: string | null;
  /** The request's connection: a login's or registration's hash is dropped unstarted once it is gone. */
  readonly client?: HashClient;
}

export interface TokenPair {
  readonly access: string;
  readonly refresh: string;
  readonly token_type: 'Bearer' | 'DPoP';
  readonly expires_in: number;
}

export interface PublicUser {
  readonly id: string;
  readonly email: string;
  readonly first_name: string;
  readonly last_name: string;
  readonly roles: readonly string[];
  readonly date_joined: string;
}

export interface RegisterInput {
  readonly email: string;
  readonly password: string;
  readonly password_confirm: string;
  readonly first_name: string;
  readonly last_name: string;
}

export interface LoginInput {
  readonly email: string;
  readonly password: string;
  readonly device_token: string | undefined;
}

/**
 * Receives the login or register limit states as soon as they have passed, so that every later
 * answer, a refusal included, carries them: a failing client is the one that needs them most.
 */
export type LimitReporter = (limits: readonly LimitState[]) => void;

/** Instead of tokens: the login waits for a second factor (POST <base_path>/login/totp). */
export interface SecondFactorChallenge {
  readonly totp_required: true;
  readonly challenge: string;
  readonly expires_in: number; // s
}

export type IssuedLogin = TokenPair & { readonly device_token: string };
export type LoginResult = IssuedLogin | SecondFactorChallenge;

/** Where the account flows join register and login; each is called only after what its name says. */
export interface AccountHooks {
  /** A user was created (the verification mail goes out; must not throw or wait on mail). */
  registered(user: User, meta: ClientMeta): void;
  /** The password was right: throw to refuse the login (its code is recorded), or ask for a second factor. */
  afterPassword(user: User, meta: ClientMeta): Promise<SecondFactorChallenge | null>;
  /**
   * The account checks of afterPassword again, without the second factor, for the user as read once the
   * session exists (accounts.ts, stillCurrent): throws what afterPassword would.
   */
  stillAllowed(user: User): Promise<void>;
  /** A session was opened, before this login is recorded (the new-device check reads earlier ones). */
  sessionOpened(user: User, session: SessionRecord, meta: ClientMeta): Promise<void>;
}

export function publicUser(user: User): PublicUser {
  return {
    id: user.id,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    roles: user.roles,
    date_joined: user.created_at.toISOString(),
  };
}
