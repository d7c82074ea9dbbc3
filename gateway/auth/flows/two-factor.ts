// TOTP two-factor (RFC 6238): enroll with an otpauth:// URI, confirm with a first code (ten single-use
// recovery codes, stored hashed), the login challenge and its completion, and disabling with a code.
// Codes are rate-limited per user and a used time step is remembered (state.firstSeen): no replay.
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../errors.js';
import type { User } from '../../users/user-store.js';
import type { ClientMeta, LimitReporter } from '../accounts.js';
import { dpopDevice } from '../binding.js';
import type { AccessClaims } from '../tokens.js';
import { keptUserAgent, userAgentHash } from '../user-agent.js';
import { checkLimits, type FlowDeps, failClosed, usable } from './context.js';
import { reauthenticate } from './reauthenticate.js';
import { matchTotp, newTotpSecret, TOTP_REPLAY_TTL_MS, totpUri } from './totp.js';

export interface TotpChallenge {
  readonly totp_required: true;
  readonly challenge: string;
  readonly expires_in: number; // s
}

const RECOVERY_CODES = 10;
// Crockford-style alphabet without look-alikes (0/O, 1/I/L): codes are read from paper and typed.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** 16 characters of a 31-letter alphabet: about 79 bits each, shown as xxxx-xxxx-xxxx-xxxx. */
function newRecoveryCode(): string {
  const bytes = randomBytes(32);
  let out = '';
  // Rejection sampling keeps every letter equally likely (256 is not a multiple of 31).
  for (const b of bytes) {
    if (b >= 248) continue;
    out += ALPHABET[b % ALPHABET.length];
    if (out.length === 16) break;
  }
  return out.length === 16 ? out.match(/.{4}/g)!.join('-') : newRecoveryCode();
}

const normaliseRecoveryCode = (code: string): string => code.toLowerCase().replace(/[\s-]/g, '');

const invalidCode = (): GatewayError => new GatewayError('invalid_code');
const invalidChallenge = (): GatewayError => new GatewayError('invalid_challenge');

export function createTwoFactor(deps: FlowDeps) {
  const { config, users, data, state, crypto, audit, limiters, now } = deps;
  const rl = config.rate_limits.totp;
  // A short window against bursts and a day's cap against the slow guess that stays under it.
  const attempts = limiters.create('totp-user', rl.per_user, failClosed(config));
  const daily = limiters.create('totp-user-day', rl.per_user_daily, failClosed(config));
  const recoveryHash = (code: string) => crypto.hash(`recovery:${normaliseRecoveryCode(code)}`);

  /** Every code attempt counts, right or wrong, before any secret is touched. */
  async function limit(userId: string): Promise<void> {
    checkLimits(await Promise.all([attempts.consume(userId), daily.consume(userId)]));
  }

  /** A TOTP code good now and never used before (its step is remembered), for the sealed secret. */
  async function totpOk(userId: string, sealed: string, code: string): Promise<boolean> {
    const secret = crypto.open(sealed, userId);
    if (secret === null) return false;
    const step = matchTotp(secret, code, now());
    if (step === null) return false;
    return state.firstSeen(`totp:${userId}:${step}`, TOTP_REPLAY_TTL_MS);
  }

  /** A TOTP code, else one unused recovery code (spent by this call). */
  async function secondFactorOk(
    user: User,
    sealed: string,
    code: string,
    meta: ClientMeta,
  ): Promise<boolean> {
    if (/^\d{6}$/.test(code)) return totpOk(user.id, sealed, code);
    const used = await data.useRecoveryCode(user.id, recoveryHash(code));
    if (used) {
      const left = await data.recoveryCodesLeft(user.id);
      audit.record({ type: 'recovery_code_used', user_id: user.id, ip: meta.ip, details: { left } });
    }
    return used;
  }

  // The challenge is bound to the device that gave the password: its DPoP key when it sent a proof
  // (completing it then needs a proof with that key, as login does), else its User-Agent. In DPoP mode a
  // login without a proof binds to no key, and completing it is refused for want of one. And to the
  // password it gave (its stored hash): a change or reset of the password voids the challenges of the
  // logins begun before it, as it ends their sessions.
  const challengeBinding = (meta: ClientMeta, user: User): string => {
    const device =
      meta.dpopJkt != null
        ? dpopDevice(meta.dpopJkt)
        : config.device_binding.mode === 'dpop'
          ? dpopDevice('')
          : userAgentHash(meta.userAgent);
    return `${device}|${crypto.hash(user.password_hash)}`;
  };

  return {
    async status(userId: string) {
      const s = await data.security(userId);
      return {
        enabled: s.totp_secret !== null,
        pending: s.totp_pending !== null,
        recovery_codes_left: s.totp_secret === null ? 0 : await data.recoveryCodesLeft(userId),
      };
    },

    /**
     * Needs the password: a thief holding only an access token could otherwise enroll a second factor
     * of their own and lock the owner out. Nothing is on until a first code confirms the secret.
     */
    async enroll(
      claims: AccessClaims,
      password: string,
      meta: ClientMeta,
      report: LimitReporter,
    ): Promise<{ secret: string; otpauth_uri: string }> {
      // The per-user code limit on top of re-authentication's login limits and lock, before either.
      await limit(claims.sub);
      const user = await reauthenticate(deps, claims, password, meta, report);
      if ((await data.security(user.id)).totp_secret !== null) throw new GatewayError('totp_already_enabled');
      const secret = newTotpSecret();
      await data.setTotpPending(user.id, crypto.seal(secret, user.id));
      return { secret, otpauth_uri: totpUri(secret, config.auth.totp_issuer, user.email) };
    },

    /** The first code proves the app has the secret; the recovery codes are shown this once only. */
    async confirm(
      claims: AccessClaims,
      code: string,
      meta: ClientMeta,
    ): Promise<{ recovery_codes: string[] }> {
      await limit(claims.sub);
      const s = await data.security(claims.sub);
      if (s.totp_secret !== null) throw new GatewayError('totp_already_enabled');
      if (s.totp_pending === null) throw new GatewayError('totp_not_pending');
      if (!(await totpOk(claims.sub, s.totp_pending, code))) throw invalidCode();
      const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
      if (!(await data.enableTotp(claims.sub, s.totp_pending, codes.map(recoveryHash)))) {
        throw new GatewayError('totp_not_pending');
      }
      audit.record({ type: 'totp_enabled', user_id: claims.sub, ip: meta.ip });
      return { recovery_codes: codes };
    },

    async disable(claims: AccessClaims, code: string, meta: ClientMeta): Promise<void> {
      const user = await users.findById(claims.sub);
      if (!usable(user)) throw new GatewayError('token_revoked');
      await limit(user.id);
      const s = await data.security(user.id);
      if (s.totp_secret === null) throw new GatewayError('totp_not_enabled');
      if (!(await secondFactorOk(user, s.totp_secret, code, meta))) {
        audit.record({ type: 'totp_failure', user_id: user.id, ip: meta.ip, details: { via: 'disable' } });
        throw invalidCode();
      }
      await data.disableTotp(user.id);
      audit.record({ type: 'totp_disabled', user_id: user.id, ip: meta.ip });
    },

    /** At login of a user with TOTP on, once the password was right: a challenge instead of tokens. */
    challengeFor(user: User, meta: ClientMeta): TotpChallenge {
      const ttl = config.auth.totp_challenge_ttl;
      // Bound to the User-Agent that gave the password: a challenge lifted from one client is useless on another.
      const challenge = crypto.sign('totp_challenge', user.id, now() + ttl, challengeBinding(meta, user));
      audit.record({ type: 'login_challenge', user_id: user.id, ip: meta.ip });
      return { totp_required: true, challenge, expires_in: Math.floor(ttl / 1000) };
    },

    /**
     * The second half of a login: the user the challenge names, when the code is right. The challenge
     * is spent only by a right code (a typo can be retried within the rate limit), and only once.
     */
    async complete(challenge: unknown, code: string, meta: ClientMeta): Promise<User> {
      // The account first, by the id the challenge names: its binding includes the password. Nothing is
      // counted, spent or trusted before the MAC is checked.
      const named = crypto.subjectOf(challenge);
      const user = named === null ? null : await users.findById(named);
      if (!usable(user)) throw invalidChallenge();
      const signed = crypto.verify('totp_challenge', challenge, challengeBinding(meta, user));
      if (signed === null) throw invalidChallenge();
      await limit(signed.subject);
      const s = await data.security(user.id);
      if (s.totp_secret === null) throw invalidChallenge();
      if (!(await secondFactorOk(user, s.totp_secret, code, meta))) {
        // Queued like every login record (accounts.ts): a busy database never turns a wrong code into a 500.
        audit.recordLogin({
          user_id: user.id,
          email: user.email_canonical,
          ip: meta.ip,
          user_agent: keptUserAgent(meta.userAgent),
          success: false,
          reason: 'invalid_code',
        });
        audit.record({ type: 'totp_failure', user_id: user.id, ip: meta.ip, details: { via: 'login' } });
        await audit.written(); // as every login's answer (accounts.ts)
        throw invalidCode();
      }
      const first = await state.firstSeen(
        `totp-challenge:${crypto.hash(String(challenge))}`,
        signed.expiresAt - now() + 1000,
      );
      if (!first) throw invalidChallenge();
      return user;
    },
  };
}

export type TwoFactor = ReturnType<typeof createTwoFactor>;
