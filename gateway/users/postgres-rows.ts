// PostgreSQL row shapes of the user store, their conversion to the UserStore types, and the advisory
// lock keys the PostgreSQL modules share. No database access here: postgres-store.ts runs the queries.

import type { StoredAuditEvent } from './user-dump.js';
import { type LoginRecord, type User, userFromRow } from './user-store.js';

/** The minimal query surface the row-level modules need; postgres-store.ts adapts pg to it. */
export interface Queryable {
  query<R extends object>(text: string, values?: readonly unknown[]): Promise<R[]>;
}

// pg_advisory_xact_lock(int, int) keys: the first number namespaces them ('PORT' in ASCII) so they
// cannot collide with another application's advisory locks on a shared database.
export const LOCK_NAMESPACE = 0x504f5254;
export const MIGRATION_LOCK = 1;
export const AUDIT_LOCK = 2;

/** bigint columns arrive as strings (pg keeps int8 exact); every value stored here fits a double. */
type Int8 = string | number;

export interface PgUserRow {
  id: string;
  email: string;
  email_canonical: string;
  first_name: string;
  last_name: string;
  password_hash: string;
  roles: unknown; // jsonb, parsed by pg
  is_active: boolean;
  is_deleted: boolean;
  created_at: Int8;
  updated_at: Int8;
}

export interface PgLoginRow {
  user_id: string | null;
  email: string;
  ip: string;
  user_agent: string;
  success: boolean;
  reason: string | null;
  at: Int8;
}

export interface PgAuditRow {
  id: Int8;
  at: Int8;
  type: string;
  user_id: string | null;
  actor: string | null;
  ip: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export const USER_COLUMNS =
  'id, email, email_canonical, first_name, last_name, password_hash, roles, is_active, is_deleted, created_at, updated_at';
export const LOGIN_COLUMNS = 'user_id, email, ip, user_agent, success, reason, at';
export const AUDIT_COLUMNS = 'id, at, type, user_id, actor, ip, details, prev_hash, hash';

export function toUser(row: PgUserRow): User {
  return userFromRow(row, {
    roles: row.roles,
    is_active: row.is_active,
    is_deleted: row.is_deleted,
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  });
}

export function toLoginRecord(row: PgLoginRow): LoginRecord {
  return { ...row, at: new Date(Number(row.at)) };
}

/** The stored chain fields too: verifyAudit and migrate-users need them, listAudit drops them. */
export function toStoredAuditEvent(row: PgAuditRow): StoredAuditEvent {
  return {
    id: Number(row.id),
    at: new Date(Number(row.at)),
    type: row.type,
    user_id: row.user_id,
    actor: row.actor,
    ip: row.ip,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}
