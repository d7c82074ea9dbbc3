// Changing the password or the email of a signed-in user: the current password is required (counted
// like a login: same limits and lock), other sessions end, and a new address must confirm by mail.
import { GatewayError } from '../../errors.js';
import { emailChangeMail, emailChangeNotice, linkTo } from '../../mail/messages.js';
import { canonicalEmail, validateEmail } from '../../users/email.js';
import type { ClientMeta, LimitReporter } from '../accounts.js';
import type { AccessClaims } from '../tokens.js';
import { checkLimits, type FlowDeps, type LinkGrant, type Links, linkBase, sendLater } from './context.js';
import type { PasswordUpdate } from './password-update.js';
import { endOtherSessions } from './password-update.js';
import { reauthenticate } from './reauthenticate.js';

export function createChangeCredentials(deps: FlowDeps, links: Links, update: PasswordUpdate) {
  const { config, users, data, state, audit, limiters } = deps;
  const rl = config.rate_limits.email_change;
  // Availability limits (mail volume, not account safety), like reset and resend: memory if the store fails.
  const perRecipient = limiters.create('email-change-email', rl.per_email, { failClosed: false });
  const perUser = limiters.create('email-change-user', rl.per_user, { failClosed: false });

  return {
    async changePassword(
      claims: AccessClaims,
      input: { current_password: string; new_password: string; new_password_confirm: string },
      meta: ClientMeta,
      report: LimitReporter,
    ): Promise<{ sessions_ended: number }> {
      const user = await reauthenticate(deps, claims, input.current_password, meta, report);
      await update.check(user, {
        password: input.new_password,
        confirm: input.new_password_confirm,
        fields: ['new_password', 'new_password_confirm'],
      });
      const ended = await update.apply(user, input.new_password, meta, claims.sid, 'changed while signed in');
      audit.record({ type: 'password_changed', user_id: user.id, ip: meta.ip, details: { sessions: ended } });
      return { sessions_ended: ended.length };
    },

    /**
     * Nothing changes yet: the new address gets a confirmation link, the old one a notice. Other sessions
     * end now (the password was just proven; whoever else is signed in should not watch the change).
     */
    async requestEmailChange(
      claims: AccessClaims,
      input: { password: string; new_email: string },
      meta: ClientMeta,
      report: LimitReporter,
    ): Promise<{ sessions_ended: number }> {
      const mailer = deps.mailer;
      if (mailer === null) throw new GatewayError('route_not_found');
      const user = await reauthenticate(deps, claims, input.password, meta, report);
      const problem = validateEmail(input.new_email);
      if (problem !== null) throw new GatewayError('validation_failed', { message: `new_email: ${problem}` });
      const next = input.new_email.trim();
      const canonical = canonicalEmail(next);
      if (canonical === user.email_canonical) {
        throw new GatewayError('validation_failed', { message: 'new_email: is the current address' });
      }
      // Each request mails an address the caller chose: counted per recipient (whichever accounts ask)
      // and per account, before anything is looked up, written, mailed or ended.
      const limits = await Promise.all([perRecipient.consume(canonical), perUser.consume(user.id)]);
      report(limits);
      checkLimits(limits);
      if ((await users.findByEmail(next)) !== null) throw new GatewayError('email_taken');
      const ttl = config.auth.email_change_ttl;
      const token = await links.issue('email_change', user.id, ttl, {
        email: next,
        from: user.email_canonical,
      });
      // Awaited: the user is waiting for this mail and should hear if it could not be sent.
      await mailer.send(emailChangeMail(user, next, linkTo(linkBase(config), 'email_change', token), ttl));
      const at = new Date(deps.now());
      sendLater(deps, 'email_change_notice', async () => emailChangeNotice(user, next, at, meta.ip));
      const ended = await endOtherSessions(state, user.id, claims.sid);
      audit.record({
        type: 'email_change_requested',
        user_id: user.id,
        ip: meta.ip,
        details: { sessions: ended },
      });
      return { sessions_ended: ended.length };
    },

    /**
     * The new address clicked its link. Every session ends, the current one too: sessions carry the
     * address sent upstream (X-User-Email), and a session must never speak for an address it no longer has.
     */
    async confirmEmailChange(token: unknown, meta: ClientMeta): Promise<{ email: string }> {
      // Checked before the link is spent: an address someone registered since is refused, and a store
      // that cannot end the sessions fails the request before anything changed; the link stays usable.
      const pending = await links.peek('email_change', token);
      // A link issued before another change (or a reset of the address) no longer describes the account.
      const stale = (grant: LinkGrant): boolean => grant.data.from !== grant.user.email_canonical;
      if (stale(pending)) throw new GatewayError('invalid_link');
      const next = String(pending.data.email);
      const owner = await users.findByEmail(next);
      if (owner !== null && owner.id !== pending.user.id) throw new GatewayError('email_taken');
      const ended = await state.endUserSessions(pending.user.id, 'token_revoked');
      const grant = await links.consume('email_change', token);
      const user = grant.user;
      if (stale(grant)) throw new GatewayError('invalid_link');
      await data.changeEmail(user.id, next);
      await data.setVerifiedEmail(user.id, next);
      // Again: a login that read the old address between the first end and the change (accounts.ts ends
      // its own session when it sees the change; this covers one that looked before it was written).
      ended.push(...(await state.endUserSessions(user.id, 'token_revoked')));
      // Links mailed to the old address must not act on the account once it has moved away.
      await data.voidTokens(user.id, 'password_reset');
      await data.voidTokens(user.id, 'device_alert');
      await state.dropProfile(user.id).catch(() => undefined);
      audit.record({
        type: 'email_changed',
        user_id: user.id,
        ip: meta.ip,
        details: { from: user.email_canonical, to: canonicalEmail(next), sessions: ended },
      });
      return { email: next };
    },
  };
}

export type ChangeCredentials = ReturnType<typeof createChangeCredentials>;
