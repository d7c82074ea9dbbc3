// Writes security events and login records to the user store without blocking the request path: they
// are queued and written in order by one writer, retried while the store is busy, never thrown at a request.
// A login's answer waits (bounded) until its records are written (`written`): whoever reads the login
// history after an answer finds that login in it.
import { GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import type { LoginAttempt, RecordEntry, UserStore } from './users/user-store.js';

/**
 * Every type of event the gateway writes: the one list that AuditEventType, the admin API
 * (GET /api/audit/types) and so the admin page's filter come from. A writer with a type missing here
 * does not compile.
 */
export const AUDIT_EVENT_TYPES = Object.freeze([
  'register',
  'login_success',
  'login_failure',
  'lockout',
  'unlock',
  'device_mismatch',
  'logout',
  'session_revoked',
  'session_replaced',
  'refresh_reused',
  'rate_limited',
  // Account flows (gateway/auth/flows).
  'email_verified',
  'password_reset_requested',
  'password_reset',
  'password_changed',
  'email_change_requested',
  'email_changed',
  'totp_enabled',
  'totp_disabled',
  'totp_failure',
  'login_challenge',
  'recovery_code_used',
  'new_device_alert',
  'device_alert_revoked',
  // Admin actions (the admin API and the `user` commands).
  'admin_set_roles',
  'admin_disable',
  'admin_enable',
  'admin_create_user',
  'admin_reload',
  'user_deleted',
] as const);

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditRecord {
  readonly type: AuditEventType;
  readonly user_id?: string | null;
  readonly actor?: string | null;
  readonly ip?: string | null;
  readonly details?: Record<string, unknown>;
}

/** What the queue holds and has lost, for the metrics. */
export interface AuditStats {
  /** Records queued and not yet written. */
  readonly queued: number;
  /** Answers (logins) waiting for their records (`written`). */
  readonly waiting: number;
  /** Records given up on since start: the queue was full, the store refused them every retry, or shutdown came first. */
  readonly dropped: number;
}

export interface AuditLog {
  record(event: AuditRecord): void;
  /**
   * Queues the event like `record` and resolves once it is written. An operator's change waits for its
   * event: it rejects with `audit_unwritten` (the change stands, its event does not) when the event is
   * dropped (queue full, refused on every retry, shutdown) or not written within `timeoutMs`; then
   * the event stays queued and may still be written. Either way the event is logged at `error`.
   */
  recordWritten(event: AuditRecord, timeoutMs?: number): Promise<void>;
  /** Login records go through the same ordered, retried queue: a busy database never fails a login. */
  recordLogin(attempt: LoginAttempt): void;
  /**
   * Resolves once every record queued before the call is written or given up on (dropped after its
   * retries, or at shutdown), or after `timeoutMs` at most: a busy database delays an answer by that
   * much, never fails it. Never rejects.
   */
  written(timeoutMs?: number): Promise<void>;
  /** Resolves when the queue is empty (tests, shutdown). */
  flush(): Promise<void>;
  /**
   * Shutdown: waits up to `timeoutMs` for the queue to be written, then stops the writer (no more
   * retries; later records are dropped) and logs how many records were lost, if any.
   */
  close(timeoutMs: number): Promise<void>;
  stats(): AuditStats;
}

const MAX_QUEUE = 10_000;
/** Entries written in one transaction at most: one commit for many rows, without holding the loop long. */
const BATCH = 32;
/** A write that fails (database locked, connection lost) is retried this often before it is dropped. */
const MAX_ATTEMPTS = 20;
const RETRY_MS = 250;
/** How long a login's answer waits for its records at most (`written`). */
const WRITTEN_WAIT_MS = 1_000;
/**
 * How long an operator's change waits for its event (`recordWritten`): past a PostgreSQL statement
 * timeout (5 s) and a retry, so a lock held for seconds delays the answer instead of failing it.
 */
const OPERATOR_WAIT_MS = 15_000;

export function createAuditLog(
  users: UserStore,
  log: Logger,
  {
    retryMs = RETRY_MS,
    now = Date.now,
  }: {
    readonly retryMs?: number;
    /** Milliseconds since the epoch: when each record happened. */
    readonly now?: () => number;
  } = {},
): AuditLog {
  const queue: RecordEntry[] = [];
  let running: Promise<void> | null = null;
  // Refused because the queue was full (logged once per thousand), and every record given up on.
  let refusedFull = 0;
  let droppedTotal = 0;
  let closed = false;
  // Entries ever queued and ever done with (written or dropped): `written` waits for its count to be done.
  let queuedCount = 0;
  let doneCount = 0;
  const waiters: { readonly upTo: number; readonly resolve: () => void }[] = [];
  // Entries someone waits on by sequence number (queuedCount when queued): told whether each was written.
  const outcomes = new Map<number, (written: boolean) => void>();

  function done(n: number, written: boolean): void {
    for (let seq = doneCount + 1; seq <= doneCount + n && outcomes.size > 0; seq++) {
      const tell = outcomes.get(seq);
      if (tell !== undefined) {
        outcomes.delete(seq);
        tell(written);
      }
    }
    doneCount += n;
    while (waiters.length > 0 && waiters[0]!.upTo <= doneCount) waiters.shift()!.resolve();
  }

  async function drain(): Promise<void> {
    // Started from setImmediate: what one event-loop turn queues (a login's record and its event) shares a commit.
    await new Promise((resolve) => setImmediate(resolve));
    let attempts = 0;
    // Entries of a failed batch, retried one at a time: one the store refuses must not hold back or drop the rest.
    let solo = 0;
    /** The head `n` entries are done with: written, or dropped after their retries. */
    const settle = (n: number, written: boolean): void => {
      queue.splice(0, n);
      done(n, written);
      attempts = 0;
      solo = Math.max(0, solo - n);
    };
    while (queue.length > 0 && !closed) {
      const batch = queue.slice(0, solo > 0 ? 1 : BATCH);
      try {
        await users.appendRecords(batch);
        settle(batch.length, true);
      } catch (err) {
        if (batch.length > 1) {
          solo = batch.length;
          continue;
        }
        // In order, head first: the hash chain and the login history keep their sequence.
        if (++attempts < MAX_ATTEMPTS) {
          if (attempts === 1) log.warn({ err, kind: batch[0]!.kind }, 'audit write failed; retrying');
          await new Promise((resolve) => setTimeout(resolve, retryMs));
          continue;
        }
        log.error({ err, kind: batch[0]!.kind }, 'audit write failed repeatedly: event dropped');
        droppedTotal++;
        settle(1, false);
      }
    }
    running = null;
  }

  async function flush(): Promise<void> {
    while (running !== null) await running;
  }

  /** Queues the entry; returns its sequence number, or null when it was refused (closed, queue full). */
  function enqueue(entry: RecordEntry): number | null {
    if (closed) {
      droppedTotal++;
      return null;
    }
    if (queue.length >= MAX_QUEUE) {
      // Bounded: a store that stopped answering must not grow memory without limit.
      droppedTotal++;
      if (refusedFull++ % 1000 === 0) log.error({ dropped: refusedFull }, 'audit queue full: events dropped');
      return null;
    }
    queue.push(entry);
    queuedCount++;
    running ??= drain();
    return queuedCount;
  }

  // The time is taken here, when it happened: the write may wait seconds behind a lock or a retry.
  const auditEntry = (event: AuditRecord): RecordEntry => ({
    kind: 'audit',
    at: now(),
    event: {
      type: event.type,
      user_id: event.user_id ?? null,
      actor: event.actor ?? null,
      ip: event.ip ?? null,
      details: event.details ?? {},
    },
  });

  return {
    record(event) {
      enqueue(auditEntry(event));
    },
    recordWritten(event, timeoutMs = OPERATOR_WAIT_MS) {
      const entry = auditEntry(event);
      const seq = enqueue(entry);
      const unwritten = (why: string): GatewayError => {
        log.error({ event: entry.kind === 'audit' ? entry.event : null, why }, 'operator change not audited');
        return new GatewayError('audit_unwritten', {
          message:
            why === 'timeout'
              ? 'The change was made, but its audit event is not written yet (still queued)'
              : 'The change was made, but its audit event could not be written',
        });
      };
      if (seq === null) return Promise.reject(unwritten('refused'));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          outcomes.delete(seq);
          reject(unwritten('timeout'));
        }, timeoutMs);
        outcomes.set(seq, (written) => {
          clearTimeout(timer);
          if (written) resolve();
          else reject(unwritten('dropped'));
        });
      });
    },
    recordLogin(attempt) {
      enqueue({ kind: 'login', at: now(), attempt });
    },
    written(timeoutMs = WRITTEN_WAIT_MS) {
      const upTo = queuedCount;
      if (doneCount >= upTo) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const waiter = {
          upTo,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        // Given up on: out of the list too, so a store down for an hour holds one second's waiters, not an hour's.
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          resolve();
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    flush,
    async close(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        if (Number.isFinite(timeoutMs)) timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([flush(), timedOut]);
      clearTimeout(timer);
      closed = true;
      if (queue.length > 0) {
        log.error({ lost: queue.length }, 'shutdown: audit records not written in time are lost');
        droppedTotal += queue.length;
        done(queue.length, false);
        queue.length = 0;
      }
    },
    stats: () => ({ queued: queue.length, waiting: waiters.length, dropped: droppedTotal }),
  };
}
