// Reads a SQLite user database as a DumpSource (keyset pages through sqliteExec), for migrate-users.
// It never writes rows and does not open a UserStore; the file must already be at the current schema.

import {
  type AuditRow,
  type LoginRow,
  toAuditEvent,
  toLoginRecord,
  toUser,
  type UserRow,
} from './sqlite-rows.js';
import { sqliteExec } from './sqlite-store.js';
import {
  type DumpSource,
  keyedPages,
  type PageQuery,
  plainPages,
  type StoredAuditEvent,
} from './user-dump.js';

export function createSqliteDumpSource(path: string): DumpSource {
  const query: PageQuery = async (sql, params) => sqliteExec(path, sql, ...params);
  return {
    users: () =>
      keyedPages<UserRow, ReturnType<typeof toUser>>(
        query,
        'SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?',
        '',
        (r) => r.id,
        toUser,
      ),
    logins: () =>
      keyedPages<LoginRow & { id: number }, ReturnType<typeof toLoginRecord>>(
        query,
        `SELECT id, user_id, email, ip, user_agent, success, reason, at FROM login_records
         WHERE id > ? ORDER BY id LIMIT ?`,
        0,
        (r) => r.id,
        ({ id: _id, ...row }) => toLoginRecord(row),
      ),
    audit: () =>
      keyedPages<AuditRow, StoredAuditEvent>(
        query,
        'SELECT * FROM audit_events WHERE id > ? ORDER BY id LIMIT ?',
        0,
        (r) => r.id,
        (r) => ({ ...toAuditEvent(r), prev_hash: r.prev_hash, hash: r.hash }),
      ),
    rows: (table) => plainPages(query, table, () => '?'),
  };
}

/** The schema version recorded in the file (0 when it has none). */
export function sqliteSchemaVersion(path: string): number {
  const [row] = sqliteExec(
    path,
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations') THEN 1 ELSE 0 END AS has",
  );
  if (row?.has !== 1) return 0;
  const [version] = sqliteExec(path, 'SELECT coalesce(max(version), 0) AS v FROM schema_migrations');
  return Number(version?.v ?? 0);
}
