// The caller's own sessions: list them (device, IP, created, last seen, which one is this one) and end
// one or all the others. Only the caller's: another user's session id is simply not found.
import type { AuditLog } from '../../audit.js';
import { GatewayError } from '../../errors.js';
import type { StateStore } from '../../state/state-store.js';
import type { ClientMeta } from '../accounts.js';
import { endOtherSessions } from './password-update.js';

export interface MySession {
  readonly id: string;
  /** The User-Agent the session logged in with. */
  readonly device: string;
  readonly ip: string;
  readonly created_at: string;
  readonly last_seen: string;
  readonly expires_at: string;
  readonly current: boolean;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const iso = (ms: number): string => new Date(ms).toISOString();

export function createMySessions(state: StateStore, audit: AuditLog) {
  return {
    /** Newest first. */
    async list(userId: string, currentSid: string): Promise<MySession[]> {
      const sessions = await state.listUserSessions(userId);
      return sessions
        .sort((a, b) => b.created_at - a.created_at)
        .map((s) => ({
          id: s.sid,
          device: s.user_agent,
          ip: s.ip,
          created_at: iso(s.created_at),
          last_seen: iso(s.last_seen),
          expires_at: iso(s.expires_at),
          current: s.sid === currentSid,
        }));
    },

    /** Ending the current session is allowed: it is a logout. */
    async revoke(userId: string, sid: string, meta: ClientMeta): Promise<void> {
      // The id is looked up among the caller's own sessions: someone else's id answers as an unknown one.
      if (!SESSION_ID.test(sid)) throw new GatewayError('session_not_found');
      const own = (await state.listUserSessions(userId)).some((s) => s.sid === sid);
      if (!own || !(await state.endSession(userId, sid, 'token_revoked'))) {
        throw new GatewayError('session_not_found');
      }
      audit.record({
        type: 'session_revoked',
        user_id: userId,
        actor: userId,
        ip: meta.ip,
        details: { sid },
      });
    },

    async revokeOthers(userId: string, currentSid: string, meta: ClientMeta): Promise<number> {
      const ended = await endOtherSessions(state, userId, currentSid);
      audit.record({
        type: 'session_revoked',
        user_id: userId,
        actor: userId,
        ip: meta.ip,
        details: { sessions: ended },
      });
      return ended.length;
    },
  };
}

export type MySessions = ReturnType<typeof createMySessions>;
