// Email verification: a signed, single-use, expiring link mailed on register (and on request), and the
// endpoint that spends it. Whether unverified users may log in is decided at login (login-hooks.ts).
import { GatewayError } from '../../errors.js';
import { linkTo, verificationMail } from '../../mail/messages.js';
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

export function createVerification(deps: FlowDeps, links: Links) {
  const { config, data, users, audit, limiters } = deps;
  const rl = config.rate_limits.verification;
  // Availability limits (mail volume, not account safety): they keep counting in memory if the store fails.
  const perEmail = limiters.create('verify-email', rl.per_email, { failClosed: false });
  const perIp = limiters.create('verify-ip', rl.per_ip, { failClosed: false });
  const ttl = config.auth.verification_ttl;

  const mailFor = async (user: User) => {
    const token = await links.issue('verify_email', user.id, ttl, { email: user.email_canonical });
    return verificationMail(user, linkTo(linkBase(config), 'verify_email', token), ttl);
  };

  return {
    /** After register: the link goes out in the background (a slow SMTP server never delays the 201). */
    registered(user: User): void {
      sendLater(deps, 'verification', () => mailFor(user));
    },

    async isVerified(user: User): Promise<boolean> {
      return (await data.security(user.id)).verified_email === user.email_canonical;
    },

    async verify(token: unknown, meta: ClientMeta): Promise<void> {
      const grant = await links.consume('verify_email', token);
      // A link mailed to an address the account no longer has proves nothing about the current one.
      if (grant.data.email !== grant.user.email_canonical) throw new GatewayError('invalid_link');
      await data.setVerifiedEmail(grant.user.id, grant.user.email_canonical);
      audit.record({ type: 'email_verified', user_id: grant.user.id, ip: meta.ip });
    },

    /**
     * Always the same 202, whether the address has an account, is verified already, or neither: only the
     * limits (counted the same for every address) can refuse. The lookup runs after the answer.
     */
    async resend(email: string, meta: ClientMeta, report: LimitReport): Promise<void> {
      const canonical = await limitMailRequest(email, meta.ipKey, { perEmail, perIp }, report);
      sendLater(deps, 'verification', async () => {
        const user = await users.findByEmail(canonical);
        if (!usable(user)) return null;
        if ((await data.security(user.id)).verified_email === user.email_canonical) return null;
        return mailFor(user);
      });
    },
  };
}

export type Verification = ReturnType<typeof createVerification>;
