import { linkTo, passwordResetMail } from '../../mail/messages.js';
import type { User } from '../../users/user-store.js';
import type { ClientMeta } from '../accounts.js';
import {
  type FlowDeps,
  type LimitReport,
  type Links,
  limitMailRequest,
  linkBase,
  sendLater,
  usable,
} from './context.js';
import type { PasswordUpdate } from './password-update.js';

export function createPasswordReset(deps: FlowDeps, links: Links, update: PasswordUpdate) {
  const { config, data, users, audit, guard, limiters } = deps;
  const rl = config.rate_limits.password_reset;
  const perEmail = limiters.create('reset-email', rl.per_email, { failClosed: false });
  const perIp = limiters.create('reset-ip', rl.per_ip, { failClosed: false });
  const ttl = config.auth.password_reset_ttl;

  /** A new token (earlier ones spent) and its mail. */
  async function mailFor(user: User) {
    const token = await links.issue('password_reset', user.id, ttl);
    return passwordResetMail(user, linkTo(linkBase(config), 'password_reset', token), token, ttl);
  }

  return {
    /**
     * The answer is decided before the address is looked up: same status, body and timing whether it
     * has an account or not. Only the limits refuse, and they count every address alike.
     */
    async request(email: string, meta: ClientMeta, report: LimitReport): Promise<void> {
      const canonical = await limitMailRequest(email, meta.ipKey, { perEmail, perIp }, report);
      sendLater(deps, 'password_reset', async () => {
        const user = await users.findByEmail(canonical);
        if (!usable(user)) return null;
        audit.record({ type: 'password_reset_requested', user_id: user.id, ip: meta.ip });
        return mailFor(user);
      });
    },

    /** For a form that wants to know before asking for a password; spends nothing. */
    async check(token: unknown): Promise<{ expires_at: string }> {
      const grant = await links.peek('password_reset', token);
      return { expires_at: new Date(grant.expiresAt).toISOString() };
    },

    async confirm(token: unknown, password: string, confirm: string, meta: ClientMeta): Promise<void> {
      const grant = await links.peek('password_reset', token);
      // Checked before the token is spent: a password the policy refuses leaves the link usable.
      await update.check(grant.user, { password, confirm, fields: ['password', 'password_confirm'] });
      const spent = await links.consume('password_reset', token);
      const user = spent.user;
      const ended = await update.apply(user, password, meta, null, 'password reset by email');
      await data.setResetRequired(user.id, false);
      // The link reached this mailbox: the address is proven, and the locks an attacker may have set
      // against it no longer protect anything (the password they were guessing is gone).
      await data.setVerifiedEmail(user.id, user.email_canonical);
      await guard.unlock(user.email_canonical);
      audit.record({ type: 'password_reset', user_id: user.id, ip: meta.ip, details: { sessions: ended } });
    },

    /** The new-device alert's "not me": a reset link goes out at once. */
    sendFor(user: User): void {
      sendLater(deps, 'password_reset', () => mailFor(user));
    },
  };
}

export type PasswordReset = ReturnType<typeof createPasswordReset>;
