// Bulk reading and writing of a PostgreSQL user database for migrate-users: a DumpSource over it, row
// counts, and a copy of another store's dump (account-flow tables included). Transactions and locks belong to the caller (postgres-store.ts).

import { canonicalJson } from './audit-chain.js';
import { canonicalEmail } from './email.js';
import {
  AUDIT_COLUMNS,
  LOGIN_COLUMNS,
  type PgAuditRow,
  type PgLoginRow,
  type PgUserRow,
  type Queryable,
  toLoginRecord,
  toStoredAuditEvent,
  toUser,
  USER_COLUMNS,
} from './postgres-rows.js';
import {
  DUMP_PAGE_SIZE,
  type DumpCounts,
  type DumpSource,
  PLAIN_TABLES,
  type PlainRow,
  type PlainTable,
  plainPageSql,
  plainRow,
} from './user-dump.js';

type Key = string | number;

async function* pages<R extends object, T>(
  db: Queryable,
  sql: string,
  first: Key,
  keyOf: (row: R) => Key,
  convert: (row: R) => T,
): AsyncGenerator<readonly T[]> {
  let after = first;
  for (;;) {
    const rows = await db.query<R>(sql, [after, DUMP_PAGE_SIZE]);
    if (rows.length === 0) return;
    yield rows.map(convert);
    after = keyOf(rows.at(-1) as R);
    if (rows.length < DUMP_PAGE_SIZE) return;
  }
}

async function* plainPages(db: Queryable, table: PlainTable): AsyncGenerator<readonly PlainRow[]> {
  let after: (string | number | null)[] | null = null;
  for (;;) {
    const sql = plainPageSql(table, after !== null, (n) => `$${n}`);
    const raw: Record<string, unknown>[] = await db.query(sql, [...(after ?? []), DUMP_PAGE_SIZE]);
    const rows: PlainRow[] = raw.map((r) => plainRow(table, r));
    const last: PlainRow | undefined = rows.at(-1);
    if (last === undefined) return;
    yield rows;
    after = table.key.map((k) => last[k] ?? null);
    if (rows.length < DUMP_PAGE_SIZE) return;
  }
}

export function createPostgresDumpSource(db: Queryable): DumpSource {
  return {
    users: () =>
      pages<PgUserRow, ReturnType<typeof toUser>>(
        db,
        `SELECT ${USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2`,
        '',
        (r) => r.id,
        toUser,
      ),
    logins: () =>
      pages<PgLoginRow & { id: string }, ReturnType<typeof toLoginRecord>>(
        db,
        `SELECT id, ${LOGIN_COLUMNS} FROM login_records WHERE id > $1 ORDER BY id LIMIT $2`,
        0,
        (r) => r.id,
        ({ id: _id, ...row }) => toLoginRecord(row),
      ),
    audit: () =>
      pages<PgAuditRow, ReturnType<typeof toStoredAuditEvent>>(
        db,
        `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2`,
        0,
        (r) => r.id,
        toStoredAuditEvent,
      ),
    rows: (table) => plainPages(db, table),
  };
}

export async function countRows(db: Queryable): Promise<DumpCounts> {
  const [row] = await db.query<{ users: string; logins: string; audit: string }>(
    `SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM login_records) AS logins,
            (SELECT count(*) FROM audit_events) AS audit`,
  );
  const plain = PLAIN_TABLES.map((t) => `(SELECT count(*) FROM ${t.name})`).join(' + ');
  const [extra] = await db.query<{ n: string }>(`SELECT ${plain} AS n`);
  return {
    users: Number(row?.users ?? 0),
    login_records: Number(row?.logins ?? 0),
    audit_events: Number(row?.audit ?? 0),
    account_rows: Number(extra?.n ?? 0),
  };
}

/** Every table migrate-users fills, children first: what --force empties. */
export const DUMP_TABLES = ['audit_events', 'login_records', 'users', ...PLAIN_TABLES.map((t) => t.name)];

const insertPlain = (table: PlainTable): string => {
  const types = table.columns.map((c) => `${c} ${table.integers.includes(c) ? 'bigint' : 'text'}`);
  const columns = table.columns.join(', ');
  return `INSERT INTO ${table.name} (${columns})
    SELECT ${columns} FROM jsonb_to_recordset($1::jsonb) AS r(${types.join(', ')})`;
};

// One jsonb parameter per page: a page is one round trip and one statement, whatever its size.
const INSERT_USERS = `INSERT INTO users (id, email, email_canonical, first_name, last_name, first_name_folded,
    last_name_folded, password_hash, roles, is_active, is_deleted, created_at, updated_at)
  SELECT id, email, email_canonical, first_name, last_name, first_name_folded, last_name_folded,
    password_hash, roles, is_active, is_deleted, created_at, updated_at
  FROM jsonb_to_recordset($1::jsonb) AS r(id text, email text, email_canonical text, first_name text,
    last_name text, first_name_folded text, last_name_folded text, password_hash text, roles jsonb,
    is_active boolean, is_deleted boolean, created_at bigint, updated_at bigint)`;

// ORDER BY n: identity values follow the source's order, which recentLogins breaks ties with.
const INSERT_LOGINS = `INSERT INTO login_records (${LOGIN_COLUMNS})
  SELECT ${LOGIN_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS r(n integer, user_id text, email text,
    ip text, user_agent text, success boolean, reason text, at bigint)
  ORDER BY n`;

const INSERT_AUDIT = `INSERT INTO audit_events (${AUDIT_COLUMNS})
  SELECT ${AUDIT_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, at bigint, type text,
    user_id text, actor text, ip text, details text, prev_hash text, hash text)`;

/**
 * Copies every row of `source` as is: ids, hashes, timestamps and the audit chain (prev_hash/hash
 * verbatim, so the chain still verifies and still proves the same history). Run it inside the
 * caller's transaction on an empty target; returns what it wrote.
 */
export async function copyDump(db: Queryable, source: DumpSource): Promise<DumpCounts> {
  let users = 0;
  let logins = 0;
  let audit = 0;
  for await (const page of source.users()) {
    const rows = page.map((u) => ({
      ...u,
      first_name_folded: canonicalEmail(u.first_name),
      last_name_folded: canonicalEmail(u.last_name),
      created_at: u.created_at.getTime(),
      updated_at: u.updated_at.getTime(),
    }));
    await db.query(INSERT_USERS, [JSON.stringify(rows)]);
    users += page.length;
  }
  for await (const page of source.logins()) {
    const rows = page.map((r, n) => ({ ...r, n, at: r.at.getTime() }));
    await db.query(INSERT_LOGINS, [JSON.stringify(rows)]);
    logins += page.length;
  }
  for await (const page of source.audit()) {
    const rows = page.map((e) => ({ ...e, at: e.at.getTime(), details: canonicalJson(e.details) }));
    await db.query(INSERT_AUDIT, [JSON.stringify(rows)]);
    audit += page.length;
  }
  let rows = 0;
  for (const table of PLAIN_TABLES) {
    for await (const page of source.rows(table)) {
      await db.query(insertPlain(table), [JSON.stringify(page)]);
      rows += page.length;
    }
  }
  return { users, login_records: logins, audit_events: audit, account_rows: rows };
}
