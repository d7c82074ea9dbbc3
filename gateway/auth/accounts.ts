// The account operations the gateway terminates: register, login, refresh, logout and profile.
// HTTP parsing and replies live in endpoints.ts, types in account-types.ts; storage behind UserStore and StateStore.
import { GatewayError, isErrorCode } from '../errors.js';
import { tokenError } from '../pipeline/authenticate.js';
import type { SessionRecord } from '../state/state-store.js';
import { canonicalEmail, validateEmail } from '../users/email.js';
import { nameError } from '../users/names.js';
import type { User } from '../users/user-store.js';
import type {
  AccountDeps,
  ClientMeta,
  IssuedLogin,
  LimitReporter,
  LoginInput,
  LoginResult,
  PublicUser,
  RegisterInput,
} from './account-types.js';
import { publicUser } from './account-types.js';
import { deviceClaims, isDpopDevice, presentedDevice } from './binding.js';
import { dpopError } from './dpop.js';
import type { Attempt } from './login-guard.js';
import { randomToken } from './random-token.js';
import { createRefresh } from './refresh.js';
import { newRefreshToken } from './refresh-tokens.js';
import { createSessionRecheck } from './session-recheck.js';
import type { AccessClaims } from './tokens.js';
import { keptUserAgent } from './user-agent.js';

export * from './account-types.js';

const NO_LOGIN_INPUT: LoginInput = { email: '', password: '', device_token: undefined };

/** Under `on_state_error: allow`, a login whose lock or session cannot be recorded goes on without them. */
const NO_ATTEMPT: Attempt = {
  succeeded: async () => undefined,
  failed: async () => false,
  withdrawn: async () => undefined,
};
const NO_SESSION = { ok: true, evicted: [] } as const;

const invalidCredentials = (): GatewayError => new GatewayError('invalid_credentials');

export function createAccounts(deps: AccountDeps) {
  const { config, users, state, tokens, hasher, policy, guard, audit, log } = deps;
  // The global mode decides what login and refresh require. A proof the pipeline verified (any mode, when
  // some route takes DPoP) binds the session to its key; without one, the global mode's binding applies.
  const binding = config.device_binding.mode;
  const deviceOf = (meta: ClientMeta): string => {
    // DPoP: tokens are issued only to the holder of a key whose proof the pipeline verified on this request.
    if (binding === 'dpop' && meta.dpopJkt == null) throw dpopError('missing DPoP proof');
    return presentedDevice(binding, meta);
  };
  const tokenTypeOf = (device: string): 'DPoP' | 'Bearer' => (isDpopDevice(device) ? 'DPoP' : 'Bearer');
  const expiresIn = Math.floor(config.tokens.access_ttl / 1000);
  const allowOnError = config.storage.on_state_error === 'allow';

  /** The explicit trade of `on_state_error: allow`: a state-store failure skips the step, logged and counted. */
  async function orSkip<T>(step: string, op: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!allowOnError || !(err instanceof GatewayError) || err.code !== 'state_unavailable') throw err;
      deps.onStateSkip();
      log.warn({ step }, 'state store unavailable: login step skipped (on_state_error: allow)');
      return fallback;
    }
  }

  async function issueAccess(user: Pick<User, 'id' | 'roles'>, sid: string, device: string): Promise<string> {
    const signed = await tokens.signAccess({
      sub: user.id,
      sid,
      roles: user.roles,
      // RFC 9449 §6: a DPoP session's key thumbprint is confirmed as `cnf.jkt`; a User-Agent hash is `dev`.
      ...deviceClaims(device),
    });
    return signed.token;
  }

  /** The user with the hash now stored: rehashed when the configured cost changed. */
  async function upgradeHash(user: User, password: string): Promise<User> {
    if (!hasher.needsRehash(user.password_hash)) return user;
    try {
      const password_hash = await hasher.hash(password);
      await users.updatePasswordHash(user.id, password_hash);
      return { ...user, password_hash };
    } catch (err) {
      log.warn({ err, user: user.id }, 'password rehash failed; the old hash stays valid');
      return user;
    }
  }

  // After the session is written: a change that ran while this login was hashing ends it (session-recheck.ts).
  const changedSince = createSessionRecheck(deps, (userId, sid) =>
    orSkip('session record', () => state.endSession(userId, sid, 'token_revoked'), false),
  );

  // Queued with the audit events (ordered, retried): a busy database never fails or half-finishes a login.
  const recorder =
    (canonical: string, meta: ClientMeta) =>
    async (user_id: string | null, reason: string | null): Promise<void> =>
      audit.recordLogin({
        user_id,
        email: canonical,
        ip: meta.ip,
        user_agent: keptUserAgent(meta.userAgent),
        success: reason === null,
        reason,
      });

  /**
   * The login limits, the lock and the password, in the contract's order: the user once the password is
   * right, and its attempt, for the caller to report the success (`succeed`) once the session's write
   * is about to leave.
   */
  async function passwordStep(
    input: LoginInput,
    meta: ClientMeta,
    reportLimits: LimitReporter,
  ): Promise<{ user: User; known: boolean; attempt: Attempt }> {
    const canonical = canonicalEmail(input.email);
    const known = tokens.deviceTokens.isKnownDevice(input.device_token, canonical);
    const limits = await guard.limitLogin(canonical, meta.ipKey, known);
    reportLimits(limits.states);
    const loginRecord = recorder(canonical, meta);
    let attempt: Attempt;
    try {
      attempt = await orSkip('brute-force lock', () => limits.begin(known), NO_ATTEMPT);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'account_locked') {
        // Under the account it names, so an operator sees guessing go on while the lock holds. Not waited
        // for: the refusal never waits on the user store (an unknown or unreadable email records none).
        void users
          .findByEmail(canonical)
          .catch(() => null)
          .then((user) => loginRecord(user?.id ?? null, 'locked'))
          .catch((e: unknown) => log.error({ err: e }, 'login record failed'));
      }
      throw err;
    }
    const user = await users.findByEmail(canonical);
    const usable = user?.is_active === true && !user.is_deleted;
    // Unknown, disabled and deleted accounts cost one hash like a wrong password: no enumeration by timing.
    const tooLong = [...input.password].length > config.passwords.max_length;
    let ok: boolean;
    try {
      ok =
        usable && !tooLong
          ? await hasher.verify(user.password_hash, input.password, meta.client)
          : await hasher.verifyDummy(input.password, meta.client);
    } catch (err) {
      // Not checked (the client left, or the threads are too far behind): the attempt is not counted.
      if (isErrorCode(err, 'overloaded'))
        await orSkip('brute-force refund', () => attempt.withdrawn(), undefined);
      throw err;
    }
    if (!ok || user === null) {
      const locked = await orSkip('brute-force count', () => attempt.failed(), false);
      const reason = user === null ? 'unknown_email' : usable ? 'bad_password' : 'inactive';
      await loginRecord(user?.id ?? null, reason);
      audit.record({ type: 'login_failure', user_id: user?.id ?? null, ip: meta.ip, details: { reason } });
      if (locked)
        audit.record({
          type: 'lockout',
          user_id: user?.id ?? null,
          ip: meta.ip,
          details: { email: canonical },
        });
      throw invalidCredentials();
    }
    return { user: await upgradeHash(user, input.password), known, attempt };
  }

  /**
   * Reports a right password to the lock. Not waited for at once: sent in the tick the session is
   * written, the reset leaves in the session's write (redis-store.ts, sendNow) instead of taking a
   * round trip of its own. One that fails leaves the count where it was, which only makes the lock
   * stricter, so the login goes on (logged); a store that is down fails the session's write anyway.
   */
  const succeed = (attempt: Attempt, user: User): Promise<void> =>
    attempt.succeeded().catch((err: unknown) => {
      log.warn({ err, user: user.id }, 'brute-force reset failed after a right password: the count stays');
    });

  /**
   * After the password (and any second factor): the second-factor and account checks of the flows, the
   * session, the records. `password` is the one this login gave, null when another step checked it and
   * the second factor (completeLogin).
   */
  async function openSession(
    user: User,
    known: boolean,
    meta: ClientMeta,
    password: string | null,
    beforeSession: () => void,
    reopens = 2,
  ): Promise<LoginResult> {
    const canonical = user.email_canonical;
    const loginRecord = recorder(canonical, meta);
    if (password !== null && deps.hooks !== undefined) {
      try {
        const challenge = await deps.hooks.afterPassword(user, meta);
        if (challenge !== null) return challenge;
      } catch (err) {
        if (err instanceof GatewayError) await loginRecord(user.id, err.code);
        throw err;
      }
    }

    const sid = randomToken(16);
    const device = deviceOf(meta);
    const access = await issueAccess(user, sid, device);
    const refresh = newRefreshToken();
    const now = Date.now();
    const record: SessionRecord = {
      sid,
      user_id: user.id,
      email: user.email,
      roles: user.roles,
      active: true,
      device,
      ip: meta.ip,
      user_agent: keptUserAgent(meta.userAgent),
      created_at: now,
      last_seen: now,
      expires_at: now + config.tokens.refresh_ttl,
    };
    beforeSession();
    const created = await orSkip(
      'session record',
      () => state.createSession(record, refresh.hash, config.sessions),
      NO_SESSION,
    );
    if (!created.ok) {
      // Every attempt that reached an account leaves a record, refused ones included.
      await loginRecord(user.id, 'too_many_sessions');
      audit.record({
        type: 'login_failure',
        user_id: user.id,
        ip: meta.ip,
        details: { reason: 'too_many_sessions' },
      });
      throw new GatewayError('too_many_sessions');
    }
    for (const evicted of created.evicted) {
      audit.record({
        type: 'session_replaced',
        user_id: user.id,
        ip: meta.ip,
        details: { sid: evicted, by: sid },
      });
    }
    let current: User | null;
    try {
      current = await changedSince(user, sid, password);
    } catch (err) {
      if (err instanceof GatewayError) await loginRecord(user.id, err.code);
      throw err;
    }
    if (current !== null) {
      // An account that keeps changing under its logins gets an answer, not a loop.
      if (reopens === 0) throw new GatewayError('users_unavailable');
      return openSession(current, known, meta, password, beforeSession, reopens - 1);
    }
    await deps.hooks?.sessionOpened(user, record, meta);
    await loginRecord(user.id, null);
    audit.record({
      type: 'login_success',
      user_id: user.id,
      ip: meta.ip,
      details: { sid, known_device: known },
    });
    return {
      access,
      refresh: refresh.token,
      token_type: tokenTypeOf(device),
      expires_in: expiresIn,
      device_token: tokens.deviceTokens.issueDeviceToken(canonical),
    };
  }

  async function loginSteps(
    input: LoginInput,
    meta: ClientMeta,
    reportLimits: LimitReporter,
    verified: User | undefined,
  ): Promise<LoginResult> {
    const { user, known, attempt } =
      verified === undefined
        ? await passwordStep(input, meta, reportLimits)
        : { user: verified, known: false, attempt: NO_ATTEMPT };
    // With the session's write when there is one; else (a challenge, a refusal) once openSession ends.
    let settled: Promise<void> | undefined;
    const reset = (): void => {
      settled ??= succeed(attempt, user);
    };
    try {
      return await openSession(user, known, meta, verified === undefined ? input.password : null, reset);
    } finally {
      reset();
      await settled;
    }
  }

  const api = {
    async register(input: RegisterInput, meta: ClientMeta, reportLimits: LimitReporter): Promise<PublicUser> {
      const canonical = canonicalEmail(input.email);
      reportLimits(await guard.limitRegister(canonical, meta.ipKey));
      const emailProblem = validateEmail(input.email);
      if (emailProblem !== null) throw new GatewayError('validation_failed', { message: emailProblem });
      const nameProblem =
        nameError('first_name', input.first_name) ?? nameError('last_name', input.last_name);
      if (nameProblem !== null) throw new GatewayError('validation_failed', { message: nameProblem });
      if (input.password !== input.password_confirm) {
        throw new GatewayError('validation_failed', { message: 'password_confirm: passwords do not match' });
      }
      policy.enforce({
        password: input.password,
        email: input.email,
        first_name: input.first_name,
        last_name: input.last_name,
      });
      const user = await users.createUser({
        email: input.email.trim(),
        first_name: input.first_name.trim(),
        last_name: input.last_name.trim(),
        password_hash: await hasher.hash(input.password, meta.client),
      });
      audit.record({ type: 'register', user_id: user.id, ip: meta.ip });
      deps.hooks?.registered(user, meta);
      return publicUser(user);
    },

    /** `verified`: a user whose password (and second factor) another step has already checked. */
    async login(
      input: LoginInput,
      meta: ClientMeta,
      reportLimits: LimitReporter,
      verified?: User,
    ): Promise<LoginResult> {
      try {
        return await loginSteps(input, meta, reportLimits, verified);
      } finally {
        // Answered, right or wrong, once the attempt's record is in the login history (bounded wait).
        await audit.written();
      }
    },
    refresh: createRefresh(deps, { deviceOf, issueAccess, tokenTypeOf, expiresIn }),

    async logout(claims: AccessClaims, meta: ClientMeta): Promise<void> {
      await state.endSession(claims.sub, claims.sid, 'token_revoked');
      audit.record({ type: 'logout', user_id: claims.sub, ip: meta.ip, details: { sid: claims.sid } });
    },

    /** The profile as JSON text, from the cache when it is there. */
    async profile(userId: string): Promise<string> {
      // A cache, not an account protection: when the state store is down the user store answers.
      const cached = await state.getProfile(userId).catch(() => null);
      if (cached !== null) return cached;
      const user = await users.findById(userId);
      if (user === null || user.is_deleted) throw tokenError('token_revoked');
      const json = JSON.stringify(publicUser(user));
      await state.setProfile(userId, json, config.auth.profile_cache_ttl).catch(() => undefined);
      return json;
    },

    /** Finishes a login whose password and second factor were checked (flows/two-factor.ts). */
    async completeLogin(user: User, meta: ClientMeta): Promise<IssuedLogin> {
      const result = await api.login(NO_LOGIN_INPUT, meta, () => undefined, user);
      if ('challenge' in result) throw new GatewayError('internal_error');
      return result;
    },
  };
  return api;
}

export type Accounts = ReturnType<typeof createAccounts>;
