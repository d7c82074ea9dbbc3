// Writes to a user store the only way the gateway does: UserStore.appendRecords, the audit queue's call.
import type { AuditEvent, AuditInput, LoginAttempt, UserStore } from '../../gateway/users/user-store.js';

export function recordLogin(store: UserStore, attempt: LoginAttempt): Promise<void> {
  return store.appendRecords([{ kind: 'login', attempt }]);
}

/** Appends one event and returns it as stored (the chain's newest: call it from one writer at a time). */
export async function appendAudit(store: UserStore, event: AuditInput): Promise<AuditEvent> {
  await store.appendRecords([{ kind: 'audit', event }]);
  const [stored] = await store.listAudit({ limit: 1 });
  if (stored === undefined) throw new Error('the appended event is not listed');
  return stored;
}
