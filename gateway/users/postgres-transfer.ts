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
  type DumpCounts,
  type DumpSource,
  keyedPages,
  type PageQuery,
  PLAIN_TABLES,
  type PlainTable,
  plainPages,
} from './user-dump.js';

export function createPostgresDumpSource(db: Queryable): DumpSource {
  const query: PageQuery = (sql, params) => db.query(sql, params);
  return {
    users: () =>
      keyedPages<PgUserRow, ReturnType<typeof toUser>>(
        query,
        `SELECT ${USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2`,
        '',
        (r) => r.id,
        toUser,
      ),
    logins: () =>
      keyedPages<PgLoginRow & { id: string }, ReturnType<typeof toLoginRecord>>(
        query,
        `SELECT id, ${LOGIN_COLUMNS} FROM login_records WHERE id > $1 ORDER BY id LIMIT $2`,
        0,
        (r) => r.id,
        ({ id: _id, ...row }) => toLoginRecord(row),
      ),
    audit: () =>
      keyedPages<PgAuditRow, ReturnType<typeof toStoredAuditEvent>>(
        query,
        `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2`,
        0,
        (r) => r.id,
        toStoredAuditEvent,
      ),
    rows: (table) => plainPages(query, table, (n) => `$${n}`),
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
