// UserStore on PostgreSQL (connections, transactions and migrations in postgres-db.ts, the pg adapter):
// audit appends serialised across replicas under an advisory lock. Not a cache, not a state store.

import { GatewayError } from '../errors.js';
import { createAccountData, numberedParams } from './account-data.js';
import { type ChainHead, createChainVerifier, GENESIS_HASH, sealEvent, toPlainJson } from './audit-chain.js';
import { canonicalEmail } from './email.js';
import {
  isUniqueViolation,
  LOCK,
  openPool,
  type PostgresStoreOptions,
  queryable,
  transaction,
  translate,
} from './postgres-db.js';
import {
  AUDIT_COLUMNS,
  AUDIT_LOCK,
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
import { storable, toStorable } from './storable.js';
import {
  type AuditInput,
  auditBefore,
  checkLimit,
  decodeCursor,
  type LoginAttempt,
  newUserRecord,
  searchPage,
  type User,
  type UserStore,
} from './user-store.js';

export {
  migratePostgres,
  openPostgresTransfer,
  type PostgresStoreOptions,
  type PostgresTransfer,
  postgresExec,
} from './postgres-db.js';

export async function createPostgresUserStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<UserStore> {
  const now = options.now ?? Date.now;
  const pool = await openPool(url, options, options.poolMax ?? 10);
  const db = queryable(pool);
  let closed = false;

  // Every method funnels driver errors through here: callers only ever see GatewayErrors.
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    if (closed) throw new GatewayError('internal_error', { cause: new Error('user store is closed') });
    try {
      return await work();
    } catch (err) {
      throw translate(err);
    }
  }
  const one = async (sql: string, values: unknown[]): Promise<User | null> => {
    const [row] = await db.query<PgUserRow>(sql, values);
    return row === undefined ? null : toUser(row);
  };
  const update = (set: string, values: unknown[], id: string) =>
    guarded(() =>
      one(
        `UPDATE users SET ${set}, updated_at = $${values.length + 1} WHERE id = $${values.length + 2}
           RETURNING ${USER_COLUMNS}`,
        [...values, now(), id],
      ),
    );

  const insertLogin = async (q: Queryable, attempt: LoginAttempt, at: number): Promise<void> => {
    await q.query(`INSERT INTO login_records (${LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      attempt.user_id,
      // The address as typed at login (NUL included): evidence kept, what PostgreSQL refuses as U+FFFD.
      toStorable(attempt.email),
      attempt.ip,
      attempt.user_agent,
      attempt.success,
      attempt.reason,
      at,
    ]);
  };

  // Ids and prev_hash are read under a lock every replica takes: two appends can never both extend the
  // same last event, so the chain never forks. The lock ends with the transaction.
  async function chainHead(tx: Queryable): Promise<ChainHead> {
    await tx.query(LOCK(AUDIT_LOCK));
    const [last] = await tx.query<{ id: string; hash: string }>(
      'SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1',
    );
    return { id: Number(last?.id ?? 0), hash: last?.hash ?? GENESIS_HASH };
  }

  /** Appends one event after `head`; returns the new head. */
  async function insertAudit(
    tx: Queryable,
    head: ChainHead,
    event: AuditInput,
    at: number,
  ): Promise<ChainHead> {
    const content = { ...event, id: head.id + 1, at, details: toPlainJson(event.details) };
    const { details, hash } = sealEvent(head.hash, content);
    const { type, user_id, actor, ip } = content;
    await tx.query(
      `INSERT INTO audit_events (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [content.id, content.at, type, user_id, actor, ip, details, head.hash, hash],
    );
    return { id: content.id, hash };
  }

  return {
    createUser: (input) =>
      guarded(async () => {
        const at = now();
        const user = newUserRecord(input, at);
        await db.query(
          `INSERT INTO users (id, email, email_canonical, first_name, last_name, first_name_folded,
             last_name_folded, password_hash, roles, is_active, is_deleted, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, false, $10, $10)`,
          [
            user.id,
            user.email,
            user.email_canonical,
            user.first_name,
            user.last_name,
            canonicalEmail(user.first_name),
            canonicalEmail(user.last_name),
            user.password_hash,
            JSON.stringify(user.roles),
            at,
          ],
        );
        return user;
      }),
    findByEmail: (email) =>
      guarded(async () => {
        const canonical = canonicalEmail(email);
        // No account holds such an address, and PostgreSQL refuses NUL in a parameter (a login with
        // `x\u0000@…` answered 400 instead of 401 invalid_credentials).
        if (!storable(canonical)) return null;
        return one(`SELECT ${USER_COLUMNS} FROM users WHERE email_canonical = $1`, [canonical]);
      }),
    findById: (id) => guarded(() => one(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id])),
    updatePasswordHash: (id, hash) => update('password_hash = $1', [hash], id),
    setRoles: (id, roles) => update('roles = $1', [JSON.stringify([...roles])], id),
    // jsonb equality: the same elements in the same order, whatever the stored text's spacing.
    setRolesIf: (id, expected, roles) =>
      guarded(() =>
        one(
          `UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3 AND roles = $4::jsonb
             RETURNING ${USER_COLUMNS}`,
          [JSON.stringify([...roles]), now(), id, JSON.stringify([...expected])],
        ),
      ),
    setActive: (id, active) => update('is_active = $1', [active], id),
    softDelete: (id) => update('is_deleted = $1', [true], id),
    searchUsers: (query) =>
      guarded(async () => {
        const limit = checkLimit(query.limit);
        const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
        const q = query.q === undefined ? '' : toStorable(canonicalEmail(query.q));
        // strpos, not LIKE: % and _ in q are literal characters.
        const rows = await db.query<PgUserRow>(
          `SELECT ${USER_COLUMNS} FROM users
           WHERE ($1::text IS NULL OR strpos(email_canonical, $1) > 0 OR strpos(first_name_folded, $1) > 0
                  OR strpos(last_name_folded, $1) > 0)
             AND ($2::bigint IS NULL OR (created_at, id) > ($2, $3::text))
           ORDER BY created_at, id LIMIT $4`,
          [q === '' ? null : q, after?.created_at ?? null, after?.id ?? null, limit + 1],
        );
        return searchPage(rows.map(toUser), limit);
      }),
    recentLogins: (userId, limit) =>
      guarded(async () => {
        const rows = await db.query<PgLoginRow>(
          `SELECT ${LOGIN_COLUMNS} FROM login_records WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2`,
          [userId, checkLimit(limit)],
        );
        return rows.map(toLoginRecord);
      }),
    appendRecords: (entries) =>
      guarded(() =>
        transaction(pool, async (tx) => {
          let head: ChainHead | null = null; // the chain's lock is taken at the batch's first event
          for (const entry of entries) {
            const at = entry.at ?? now();
            if (entry.kind === 'login') await insertLogin(tx, entry.attempt, at);
            else {
              head ??= await chainHead(tx);
              head = await insertAudit(tx, head, entry.event, at);
            }
          }
        }),
      ),
    listAudit: (query) =>
      guarded(async () => {
        const rows = await db.query<PgAuditRow>(
          `SELECT ${AUDIT_COLUMNS} FROM audit_events
           WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR type = $2)
             AND ($3::bigint IS NULL OR at >= $3) AND ($5::bigint IS NULL OR at < $5) AND id < $6
           ORDER BY id DESC LIMIT $4`,
          [
            query.user ?? null,
            query.type ?? null,
            query.since?.getTime() ?? null,
            checkLimit(query.limit),
            query.until?.getTime() ?? null,
            // Always bound, as in SQLite: the primary key's range starts the scan at the page.
            auditBefore(query.before),
          ],
        );
        return rows.map((row) => {
          const { prev_hash: _p, hash: _h, ...event } = toStoredAuditEvent(row);
          return event;
        });
      }),
    verifyAudit: (expectHead) =>
      guarded(async () => {
        const verify = createChainVerifier(expectHead);
        let after = 0;
        for (;;) {
          const rows = await db.query<PgAuditRow>(
            `SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT 1000`,
            [after],
          );
          for (const row of rows) {
            let details: unknown;
            try {
              details = JSON.parse(row.details);
            } catch {
              return { ok: false, first_bad_id: Number(row.id), missing: null } as const;
            }
            const bad = verify.feed({ ...row, id: Number(row.id), at: Number(row.at), details });
            if (bad !== null) return { ok: false, ...bad } as const;
          }
          if (rows.length < 1000) return { ok: true, ...verify.intact() } as const;
          after = Number(rows.at(-1)?.id);
        }
      }),
    ping: () =>
      guarded(async () => {
        await db.query('SELECT 1');
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
    accountData: createAccountData(
      {
        query: (sql, params) => db.query(numberedParams(sql), params),
        batch: (statements) =>
          transaction(pool, async (tx) => {
            for (const s of statements) await tx.query(numberedParams(s.sql), s.params);
          }),
        isUniqueViolation,
      },
      now,
    ),
  };
}
