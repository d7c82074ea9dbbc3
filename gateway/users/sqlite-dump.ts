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
  DUMP_PAGE_SIZE,
  type DumpSource,
  type PlainRow,
  type PlainTable,
  plainPageSql,
  plainRow,
  type StoredAuditEvent,
} from './user-dump.js';

type Key = string | number;

async function* pages<R, T>(
  path: string,
  sql: string,
  first: Key,
  keyOf: (row: R) => Key,
  convert: (row: R) => T,
): AsyncGenerator<readonly T[]> {
  let after = first;
  for (;;) {
    const rows = sqliteExec(path, sql, after, DUMP_PAGE_SIZE) as unknown as R[];
    if (rows.length === 0) return;
    yield rows.map(convert);
    after = keyOf(rows.at(-1) as R);
    if (rows.length < DUMP_PAGE_SIZE) return;
  }
}

async function* plainPages(path: string, table: PlainTable): AsyncGenerator<readonly PlainRow[]> {
  let after: (string | number | null)[] | null = null;
  for (;;) {
    const sql = plainPageSql(table, after !== null, () => '?');
    const rows: PlainRow[] = sqliteExec(path, sql, ...(after ?? []), DUMP_PAGE_SIZE).map((r) =>
      plainRow(table, r),
    );
    const last: PlainRow | undefined = rows.at(-1);
    if (last === undefined) return;
    yield rows;
    after = table.key.map((k) => last[k] ?? null);
    if (rows.length < DUMP_PAGE_SIZE) return;
  }
}

export function createSqliteDumpSource(path: string): DumpSource {
  return {
    users: () =>
      pages<UserRow, ReturnType<typeof toUser>>(
        path,
        'SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?',
        '',
        (r) => r.id,
        toUser,
      ),
    logins: () =>
      pages<LoginRow & { id: number }, ReturnType<typeof toLoginRecord>>(
        path,
        `SELECT id, user_id, email, ip, user_agent, success, reason, at FROM login_records
         WHERE id > ? ORDER BY id LIMIT ?`,
        0,
        (r) => r.id,
        ({ id: _id, ...row }) => toLoginRecord(row),
      ),
    audit: () =>
      pages<AuditRow, StoredAuditEvent>(
        path,
        'SELECT * FROM audit_events WHERE id > ? ORDER BY id LIMIT ?',
        0,
        (r) => r.id,
        (r) => ({ ...toAuditEvent(r), prev_hash: r.prev_hash, hash: r.hash }),
      ),
    rows: (table) => plainPages(path, table),
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
