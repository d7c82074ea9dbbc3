// SQLite row shapes of the user store and their conversion to the UserStore types (booleans, Dates,
// JSON columns). No database access here: sqlite-store.ts runs the queries.

import { toStorable } from './storable.js';
import { type AuditEvent, type LoginRecord, type User, userFromRow } from './user-store.js';

export interface UserRow {
  id: string;
  email: string;
  email_canonical: string;
  first_name: string;
  last_name: string;
  password_hash: string;
  roles: string;
  is_active: number;
  is_deleted: number;
  created_at: number;
  updated_at: number;
}

export interface LoginRow {
  user_id: string | null;
  email: string;
  ip: string;
  user_agent: string;
  success: number;
  reason: string | null;
  at: number;
}

export interface AuditRow {
  id: number;
  at: number;
  type: string;
  user_id: string | null;
  actor: string | null;
  ip: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export function toUser(row: UserRow): User {
  return userFromRow(row, {
    roles: JSON.parse(row.roles),
    is_active: row.is_active === 1,
    is_deleted: row.is_deleted === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
  });
}

export function toAuditEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    at: new Date(row.at),
    type: row.type,
    user_id: row.user_id,
    actor: row.actor,
    ip: row.ip,
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}

export function toLoginRecord(row: LoginRow): LoginRecord {
  // Rows written before attempts were made storable may hold NUL (an email typed so at login): read
  // as U+FFFD, so a dump copies and compares what PostgreSQL can hold.
  return {
    ...row,
    email: toStorable(row.email),
    user_agent: toStorable(row.user_agent),
    success: row.success === 1,
    at: new Date(row.at),
  };
}
