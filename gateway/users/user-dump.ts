// A backend-neutral dump of a user store (users, login records, audit events with their chain hashes,
// account-flow tables) and its canonical SHA-256, which migrate-users compares on both sides. No storage access here.

import { createHash } from 'node:crypto';
import { canonicalJson } from './audit-chain.js';
import type { AuditEvent, LoginRecord, User } from './user-store.js';

export interface StoredAuditEvent extends AuditEvent {
  readonly prev_hash: string;
  readonly hash: string;
}

/**
 * A table copied column for column, without conversion (the account-flow tables of migration 2).
 * Both backends declare these identically; `test/gateway/cli-migrate.test.ts` fails when a migration
 * adds a table or a column that is not listed here, so migrate-users cannot silently leave one behind.
 */
export interface PlainTable {
  readonly name: string;
  /** Primary key, in order: pages are read by it. */
  readonly key: readonly string[];
  /** Integer columns (bigint in PostgreSQL, read back as strings there); the rest are text. */
  readonly integers: readonly string[];
  readonly columns: readonly string[];
}

export type PlainRow = Readonly<Record<string, string | number | null>>;

export const PLAIN_TABLES: readonly PlainTable[] = Object.freeze([
  {
    name: 'account_security',
    key: ['user_id'],
    columns: [
      'user_id',
      'verified_email',
      'verified_at',
      'totp_secret',
      'totp_enabled_at',
      'totp_pending',
      'totp_pending_at',
      'reset_required',
    ],
    integers: ['verified_at', 'totp_enabled_at', 'totp_pending_at', 'reset_required'],
  },
  {
    name: 'recovery_codes',
    key: ['user_id', 'code_hash'],
    columns: ['user_id', 'code_hash', 'created_at', 'used_at'],
    integers: ['created_at', 'used_at'],
  },
  {
    name: 'account_tokens',
    key: ['token_hash'],
    columns: ['token_hash', 'user_id', 'purpose', 'data', 'created_at', 'expires_at', 'used_at'],
    integers: ['created_at', 'expires_at', 'used_at'],
  },
]);

/**
 * Keyset page query over a PlainTable: `after` null for the first page. `param(n)` writes the n-th
 * placeholder (`?` for SQLite, `$n` for PostgreSQL); row-value comparison works on both.
 */
export function plainPageSql(table: PlainTable, after: boolean, param: (n: number) => string): string {
  const key = table.key.join(', ');
  const where = after ? `WHERE (${key}) > (${table.key.map((_, i) => param(i + 1)).join(', ')})` : '';
  return `SELECT ${table.columns.join(', ')} FROM ${table.name} ${where} ORDER BY ${key} LIMIT ${param(after ? table.key.length + 1 : 1)}`;
}

/** Integer columns as numbers whatever the driver gave back. */
export function plainRow(table: PlainTable, row: Record<string, unknown>): PlainRow {
  const out: Record<string, string | number | null> = {};
  for (const column of table.columns) {
    const value = row[column];
    out[column] =
      value === null || value === undefined
        ? null
        : table.integers.includes(column)
          ? Number(value)
          : String(value);
  }
  return out;
}

/** Each backend reads itself in pages, in a stable order both backends agree on. */
export interface DumpSource {
  /** Ordered by id. */
  users(): AsyncIterable<readonly User[]>;
  /** In insertion order (the backend's own row id, which is not part of the dump). */
  logins(): AsyncIterable<readonly LoginRecord[]>;
  /** Ordered by id. */
  audit(): AsyncIterable<readonly StoredAuditEvent[]>;
  /** Ordered by the table's key. */
  rows(table: PlainTable): AsyncIterable<readonly PlainRow[]>;
}

export interface DumpCounts {
  readonly users: number;
  readonly login_records: number;
  readonly audit_events: number;
  /** Rows of every PLAIN_TABLES table together. */
  readonly account_rows: number;
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
  let rows = 0;
  for (const table of PLAIN_TABLES) {
    for await (const page of source.rows(table)) {
      for (const row of page) add([table.name, ...table.columns.map((c) => row[c] ?? null)]);
      rows += page.length;
    }
  }
  return {
    counts: { users, login_records: logins, audit_events: audit, account_rows: rows },
    sha256: hash.digest('hex'),
  };
}

/** Runs one paging query (`?` or `$n` parameters, as the backend wants) and returns its rows. */
export type PageQuery = (
  sql: string,
  params: readonly (string | number | null)[],
) => Promise<readonly object[]>;

type Key = string | number;

/** Keyset pages of `sql` (`… WHERE key > p1 ORDER BY key LIMIT p2`), converted row by row. */
export async function* keyedPages<R, T>(
  query: PageQuery,
  sql: string,
  first: Key,
  keyOf: (row: R) => Key,
  convert: (row: R) => T,
): AsyncGenerator<readonly T[]> {
  let after = first;
  for (;;) {
    const rows = (await query(sql, [after, DUMP_PAGE_SIZE])) as readonly R[];
    if (rows.length === 0) return;
    yield rows.map(convert);
    after = keyOf(rows.at(-1) as R);
    if (rows.length < DUMP_PAGE_SIZE) return;
  }
}

/** Keyset pages of a plain (account-flow) table, on its declared key columns. */
export async function* plainPages(
  query: PageQuery,
  table: PlainTable,
  param: (n: number) => string,
): AsyncGenerator<readonly PlainRow[]> {
  let after: (string | number | null)[] | null = null;
  for (;;) {
    const sql = plainPageSql(table, after !== null, param);
    const rows: PlainRow[] = (await query(sql, [...(after ?? []), DUMP_PAGE_SIZE])).map((r) =>
      plainRow(table, r as Record<string, unknown>),
    );
    const last: PlainRow | undefined = rows.at(-1);
    if (last === undefined) return;
    yield rows;
    after = table.key.map((k) => last[k] ?? null);
    if (rows.length < DUMP_PAGE_SIZE) return;
  }
}
