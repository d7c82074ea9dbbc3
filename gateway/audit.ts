// Writes security events to the user store's audit chain without blocking the request path: events
// are queued and appended in order by one writer. A write failure is logged, never thrown at a request.
import type { Logger } from './logger.js';
import type { AuditInput, UserStore } from './users/user-store.js';

export type AuditEventType =
  | 'register'
  | 'login_success'
  | 'login_failure'
  | 'lockout'
  | 'unlock'
  | 'device_mismatch'
  | 'logout'
  | 'session_revoked'
  | 'session_replaced'
  | 'refresh_reused'
  | 'rate_limited'
  | 'state_check_skipped'
  // Account flows (gateway/auth/flows).
  | 'email_verified'
  | 'password_reset_requested'
  | 'password_reset'
  | 'password_changed'
  | 'email_change_requested'
  | 'email_changed'
  | 'totp_enabled'
  | 'totp_disabled'
  | 'totp_failure'
  | 'login_challenge'
  | 'recovery_code_used'
  | 'new_device_alert'
  | 'device_alert_revoked'
  | `admin_${string}`;

export interface AuditRecord {
  readonly type: AuditEventType;
  readonly user_id?: string | null;
  readonly actor?: string | null;
  readonly ip?: string | null;
  readonly details?: Record<string, unknown>;
}

export interface AuditLog {
  record(event: AuditRecord): void;
  /** Resolves when everything queued so far is written (shutdown, tests). */
  flush(): Promise<void>;
}

const MAX_QUEUE = 10_000;

export function createAuditLog(users: UserStore, log: Logger): AuditLog {
  const queue: AuditInput[] = [];
  let running: Promise<void> | null = null;
  let dropped = 0;

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const event = queue.shift()!;
      try {
        await users.appendAudit(event);
      } catch (err) {
        log.error({ err, type: event.type }, 'audit event could not be written');
      }
    }
    running = null;
  }

  return {
    record(event) {
      if (queue.length >= MAX_QUEUE) {
        // Bounded: a store that stopped answering must not grow memory without limit.
        if (dropped++ % 1000 === 0) log.error({ dropped }, 'audit queue full: events dropped');
        return;
      }
      queue.push({
        type: event.type,
        user_id: event.user_id ?? null,
        actor: event.actor ?? null,
        ip: event.ip ?? null,
        details: event.details ?? {},
      });
      running ??= drain();
    },
    async flush() {
      while (running !== null) await running;
    },
  };
}
