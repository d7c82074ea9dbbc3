// A backend-neutral dump of a user store (users, login records, audit events with their chain hashes)
// and its canonical SHA-256, which migrate-users compares on both sides. No storage access here.

import { createHash } from 'node:crypto';
import { canonicalJson } from './audit-chain.js';
import type { AuditEvent, LoginRecord, User } from './user-store.js';

export interface StoredAuditEvent extends AuditEvent {
  readonly prev_hash: string;
  readonly hash: string;
}

/** Each backend reads itself in pages, in a stable order both backends agree on. */
export interface DumpSource {
  /** Ordered by id. */
  users(): AsyncIterable<readonly User[]>;
  /** In insertion order (the backend's own row id, which is not part of the dump). */
  logins(): AsyncIterable<readonly LoginRecord[]>;
  /** Ordered by id. */
  audit(): AsyncIterable<readonly StoredAuditEvent[]>;
}

export interface DumpCounts {
  readonly users: number;
  readonly login_records: number;
  readonly audit_events: number;
}

export interface DumpDigest {
  readonly counts: DumpCounts;
  readonly sha256: string;
}

/** Rows per page read or written; small enough for one parameter, large enough to amortise round trips. */
export const DUMP_PAGE_SIZE = 500;

export function userLine(u: User): unknown[] {
  return [
    'user',
    u.id,
    u.email,
    u.email_canonical,
    u.first_name,
    u.last_name,
    u.password_hash,
    [...u.roles],
    u.is_active,
    u.is_deleted,
    u.created_at.getTime(),
    u.updated_at.getTime(),
  ];
}

export function loginLine(r: LoginRecord): unknown[] {
  return ['login', r.user_id, r.email, r.ip, r.user_agent, r.success, r.reason, r.at.getTime()];
}

export function auditLine(e: StoredAuditEvent): unknown[] {
  return ['audit', e.id, e.at.getTime(), e.type, e.user_id, e.actor, e.ip, e.details, e.prev_hash, e.hash];
}

/**
 * One JSON array per row (strings escaped, so a newline inside a value cannot forge a row), object
 * keys sorted, every field the store keeps: equal digests mean equal contents, in the same order.
 */
export async function digestDump(source: DumpSource): Promise<DumpDigest> {
  const hash = createHash('sha256');
  const add = (line: unknown[]): void => {
    hash.update(canonicalJson(line)).update('\n');
  };
  let users = 0;
  let logins = 0;
  let audit = 0;
  for await (const page of source.users()) {
    for (const u of page) add(userLine(u));
    users += page.length;
  }
  for await (const page of source.logins()) {
    for (const r of page) add(loginLine(r));
    logins += page.length;
  }
  for await (const page of source.audit()) {
    for (const e of page) add(auditLine(e));
    audit += page.length;
  }
  return { counts: { users, login_records: logins, audit_events: audit }, sha256: hash.digest('hex') };
}
