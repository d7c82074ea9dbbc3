// New-device alerts: a login from a (device, network) pair the account's login records have never shown
// mails the owner the time, IP and User-Agent with a one-click "not me" link, which ends every session and
// blocks logins until a password reset. It does not block the login itself (the password was right).
import { ipNetwork } from '../../ip-network.js';
import { linkTo, newDeviceAlert } from '../../mail/messages.js';
import type { SessionRecord } from '../../state/state-store.js';
import type { User } from '../../users/user-store.js';
import type { ClientMeta } from '../accounts.js';
import { keptUserAgent, userAgentHash } from '../user-agent.js';
import { type FlowDeps, type Links, linkBase, sendLater } from './context.js';
import type { PasswordReset } from './password-reset.js';

/** How many past logins are compared: older habits do not make a device "known" forever. */
const HISTORY = 200;

/** The network a client is in: its IPv4 /24 or IPv6 /64 (an IPv4-mapped IPv6 address counts as IPv4). */
export const ipRange = (ip: string): string => ipNetwork(ip, 24, 64);

export function createNewDevice(deps: FlowDeps, links: Links, reset: PasswordReset) {
  const { config, users, data, state, audit, log } = deps;
  const ttl = config.auth.alert_link_ttl;

  return {
    /** Called when a login opened a session, before that login is recorded (so it is not its own history). */
    async sessionOpened(user: User, session: SessionRecord, meta: ClientMeta): Promise<void> {
      if (!config.auth.new_device_alert || deps.mailer === null) return;
      let previous: { ip: string; user_agent: string }[];
      try {
        previous = (await users.recentLogins(user.id, HISTORY)).filter((r) => r.success);
      } catch (err) {
        log.warn({ err, user: user.id }, 'new-device check skipped: login records unavailable');
        return;
      }
      // A first login has nothing to compare with: every account would be alerted on its first use.
      if (previous.length === 0) return;
      // Compared as kept: a User-Agent over 512 characters is recorded cut short.
      const device = userAgentHash(keptUserAgent(meta.userAgent));
      const range = ipRange(meta.ip);
      if (previous.some((r) => userAgentHash(r.user_agent) === device && ipRange(r.ip) === range)) return;
      const at = new Date(deps.now());
      sendLater(deps, 'new_device_alert', async () => {
        // Several alerts may be pending at once (one per new device): earlier links stay valid.
        const token = await links.issue('device_alert', user.id, ttl, { sid: session.sid }, false);
        audit.record({
          type: 'new_device_alert',
          user_id: user.id,
          ip: meta.ip,
          details: { sid: session.sid },
        });
        const link = linkTo(linkBase(config), 'device_alert', token);
        return newDeviceAlert(user, { at, ip: meta.ip, userAgent: meta.userAgent }, link, ttl);
      });
    },

    /**
     * "This was not me": the password is presumed known to someone else, so every session ends (not only
     * the alerted one: the intruder may have logged in again) and logins wait for a reset.
     */
    async notMe(token: unknown, meta: ClientMeta): Promise<{ sessions_ended: number }> {
      const grant = await links.consume('device_alert', token);
      const user = grant.user;
      await data.setResetRequired(user.id, true);
      const ended = await state.endUserSessions(user.id, 'token_revoked');
      // An address change the intruder asked for would move the account away once confirmed.
      await data.voidTokens(user.id, 'email_change');
      reset.sendFor(user);
      audit.record({
        type: 'device_alert_revoked',
        user_id: user.id,
        ip: meta.ip,
        details: { sid: grant.data.sid, sessions: ended },
      });
      return { sessions_ended: ended.length };
    },
  };
}

export type NewDevice = ReturnType<typeof createNewDevice>;
