// What every account flow shares: its dependencies, single-use mailed links (signed, stored hashed,
// spent atomically), background mail and the "may this account act" test. No flow logic here.
import type { GatewayConfig } from '../../../config/types.js';
import type { AuditLog } from '../../audit.js';
import { GatewayError } from '../../errors.js';
import { rateLimitHeaders } from '../../http/rate-limit-headers.js';
import type { Logger } from '../../logger.js';
import type { Mailer, MailMessage } from '../../mail/mailer.js';
import type { LinkBase } from '../../mail/messages.js';
import type { Limiter, LimiterBackend, LimitState } from '../../state/limiter.js';
import type { StateStore } from '../../state/state-store.js';
import type { AccountData, TokenPurpose } from '../../users/account-data.js';
import { canonicalEmail, validateEmail } from '../../users/email.js';
import type { User, UserStore } from '../../users/user-store.js';
import type { LoginGuard } from '../login-guard.js';
import type { PasswordPolicy } from '../password-policy.js';
import type { PasswordHasher } from '../passwords.js';
import type { FlowCrypto } from './flow-crypto.js';

export interface FlowDeps {
  readonly config: GatewayConfig;
  readonly users: UserStore;
  readonly data: AccountData;
  readonly state: StateStore;
  readonly limiters: LimiterBackend;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly guard: LoginGuard;
  readonly audit: AuditLog;
  readonly log: Logger;
  readonly crypto: FlowCrypto;
  /** null: no `mail.host`; the flows that need mail are not served. */
  readonly mailer: Mailer | null;
  readonly now: () => number;
}

export interface LinkGrant {
  readonly user: User;
  readonly data: Readonly<Record<string, unknown>>;
  readonly expiresAt: number;
}

/** A disabled or deleted account can use no link and gets no mail. */
export const usable = (user: User | null): user is User => user?.is_active === true && !user.is_deleted;

export function linkBase(config: GatewayConfig): LinkBase {
  return { publicBaseUrl: config.mail.public_base_url ?? '', basePath: config.auth.base_path };
}

const invalidLink = (): GatewayError => new GatewayError('invalid_link');

export function createLinks(deps: FlowDeps) {
  const { crypto, data, users, now } = deps;

  /** The signature is checked first: garbage and forgeries never reach the database. */
  async function lookup(purpose: TokenPurpose, token: unknown, spend: boolean): Promise<LinkGrant> {
    const signed = crypto.verify(purpose, token);
    if (signed === null || typeof token !== 'string') throw invalidLink();
    const hash = crypto.hash(token);
    const row = spend ? await data.consumeToken(hash, purpose) : await data.findToken(hash, purpose);
    // The row names the user too: a token can only ever act on the account it was issued for.
    if (row === null || row.user_id !== signed.subject) throw invalidLink();
    const user = await users.findById(row.user_id);
    if (!usable(user)) throw invalidLink();
    return { user, data: JSON.parse(row.data) as Record<string, unknown>, expiresAt: row.expires_at };
  }

  return {
    /** A new single-use link token; `voidOthers` spends the user's earlier ones of that purpose first. */
    async issue(
      purpose: TokenPurpose,
      userId: string,
      ttlMs: number,
      payload: Readonly<Record<string, unknown>> = {},
      voidOthers = true,
    ): Promise<string> {
      if (voidOthers) await data.voidTokens(userId, purpose);
      const expiresAt = now() + ttlMs;
      const token = crypto.sign(purpose, userId, expiresAt);
      await data.saveToken(crypto.hash(token), {
        user_id: userId,
        purpose,
        data: JSON.stringify(payload),
        expires_at: expiresAt,
      });
      return token;
    },
    /** Spends the token: a second use (or a race) is invalid_link. */
    consume: (purpose: TokenPurpose, token: unknown) => lookup(purpose, token, true),
    /** The same checks without spending it. */
    peek: (purpose: TokenPurpose, token: unknown) => lookup(purpose, token, false),
  };
}

export type Links = ReturnType<typeof createLinks>;

/**
 * Sends without making the caller wait: answers must not depend on whether (or how fast) a mail went
 * out, or they would say whether the address has an account. Failures are logged, never answered.
 */
export function sendLater(deps: FlowDeps, kind: string, message: () => Promise<MailMessage | null>): void {
  const { mailer, log } = deps;
  if (mailer === null) return;
  // A macrotask, not a promise chain: the lookup and the token writes (SQLite syncs each commit on the
  // event loop) would otherwise run in microtasks before the answer is written, and delay only the
  // answers about real accounts.
  setImmediate(() => {
    void (async () => {
      const m = await message();
      if (m !== null) await mailer.send(m);
    })().catch((err: unknown) => log.warn({ err, mail: kind }, 'account mail not sent'));
  });
}

/** Limits that protect an account fail closed like the brute-force lock (on_state_error decides). */
export function failClosed(config: GatewayConfig): { failClosed: boolean } {
  return { failClosed: config.storage.on_state_error !== 'allow' };
}

/** 429 with Retry-After and RateLimit-* for the most constrained of `states`, when any is used up. */
export function checkLimits(states: readonly LimitState[]): void {
  if (states.some((s) => !s.allowed)) {
    throw new GatewayError('rate_limited', { headers: rateLimitHeaders(states, true), limits: states });
  }
}

/** Reports the limits that applied (every answer carries them), then refuses when one is used up. */
export type LimitReport = (states: readonly LimitState[]) => void;

/**
 * The front of every "send me a mail" request: a valid address, counted per address and per client IP
 * (the same for every address, existing or not), reported, refused when used up. Returns the canonical form.
 */
export async function limitMailRequest(
  email: string,
  ip: string,
  limits: { readonly perEmail: Limiter; readonly perIp: Limiter },
  report: LimitReport,
): Promise<string> {
  const problem = validateEmail(email);
  if (problem !== null) throw new GatewayError('validation_failed', { message: problem });
  const canonical = canonicalEmail(email);
  const states = await Promise.all([limits.perEmail.consume(canonical), limits.perIp.consume(ip)]);
  report(states);
  checkLimits(states);
  return canonical;
}
