// UserStore on one SQLite file (connection, migrations and better-sqlite3 are sqlite-db.ts's): WAL (checkpointed by a
// thread of its own, sqlite-checkpointer.ts), synchronous=FULL, versioned migrations on open. Not for
// several replicas or workers > 1: that needs the PostgreSQL store.

import { existsSync } from 'node:fs';
import { GatewayError } from '../errors.js';
import { createAccountData } from './account-data.js';
import { type ChainHead, createChainVerifier, GENESIS_HASH, sealEvent, toPlainJson } from './audit-chain.js';
import { canonicalEmail } from './email.js';
import { createAuditReader } from './sqlite-audit-reader.js';
import { type CheckpointOptions, createCheckpointer } from './sqlite-checkpointer.js';
import {
  BETTER_SQLITE3_PATH,
  BUSY_TIMEOUT_MS,
  checkSchema,
  isSqliteError,
  migrate,
  openSqlite,
  sqliteRunner,
} from './sqlite-db.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';

export { migrateSqliteFile, sqliteExec } from './sqlite-db.js';

import {
  type AuditRow,
  type LoginRow,
  toAuditEvent,
  toLoginRecord,
  toUser,
  type UserRow,
} from './sqlite-rows.js';
import { storable, toStorable } from './storable.js';
import {
  type AuditInput,
  auditBefore,
  checkLimit,
  decodeCursor,
  type LoginAttempt,
  newUserRecord,
  type RecordEntry,
  searchPage,
  type User,
  type UserStore,
  type UserStoreOptions,
} from './user-store.js';

/**
 * One user's audit events, newest first, searched in audit_events_user (user_id, id) read backwards.
 * Exported for the test that asks SQLite for its plan.
 */
export const AUDIT_OF_USER_SQL = `SELECT * FROM audit_events
  WHERE user_id = @user AND id < @before AND (@type IS NULL OR type = @type)
    AND (@since IS NULL OR at >= @since) AND (@until IS NULL OR at < @until)
  ORDER BY id DESC LIMIT @limit`;

/**
 * The other listings read backwards by rowid. `before` is always bound (MAX_SAFE_INTEGER for the first
 * page), so a page deep in the log starts there instead of skipping every newer row. Exported for the
 * plan test.
 */
export const AUDIT_SQL = `SELECT * FROM audit_events
  WHERE id < @before AND (@type IS NULL OR type = @type)
    AND (@since IS NULL OR at >= @since) AND (@until IS NULL OR at < @until)
  ORDER BY id DESC LIMIT @limit`;

export interface SqliteStoreOptions extends UserStoreOptions, CheckpointOptions {
  /**
   * For readers (`portcullis audit`): the file must exist, is opened read-only and never migrated
   * (a schema not this gateway's is refused); no checkpoint or reader thread. Writes fail.
   */
  readonly readOnly?: boolean;
}

/** `path` is a file path (the `sqlite:` prefix already removed) or `:memory:`. */
export function createSqliteUserStore(path: string, options: SqliteStoreOptions = {}): UserStore {
  const now = options.now ?? Date.now;
  const readOnly = options.readOnly === true;
  if (readOnly && !existsSync(path)) {
    throw new Error(`cannot read the user store at ${path}: no such file`);
  }
  const db = openSqlite(path, readOnly, readOnly);
  try {
    if (readOnly) checkSchema(db, SQLITE_MIGRATIONS);
    else migrate(db, SQLITE_MIGRATIONS, now());
  } catch (err) {
    db.close();
    if (!readOnly) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot read the user store at ${path}: ${reason}`, { cause: err });
  }
  // An in-memory database has no WAL to checkpoint; a read-only one writes nothing.
  const checkpointer =
    path === ':memory:' || readOnly
      ? null
      : createCheckpointer(
          {
            path,
            library: BETTER_SQLITE3_PATH,
            busyMs: BUSY_TIMEOUT_MS,
            setAutocheckpoint: (pages) => {
              if (db.open) db.pragma(`wal_autocheckpoint = ${pages}`);
            },
          },
          options,
        );
  // Listings off the event loop (sqlite-audit-reader.ts); an in-memory database has no file to share.
  const reader =
    path === ':memory:' || readOnly
      ? null
      : createAuditReader({ path, library: BETTER_SQLITE3_PATH, busyMs: BUSY_TIMEOUT_MS });
  // Search folds names the way emails are canonicalised, so `Zoë`, `ZOË` and `ｚｏｅ̈` find each other.
  db.function('portcullis_fold', { deterministic: true }, (value: unknown) =>
    typeof value === 'string' ? canonicalEmail(value) : value,
  );

  const sql = {
    insertUser: db.prepare(`INSERT INTO users (id, email, email_canonical, first_name, last_name,
      password_hash, roles, is_active, is_deleted, created_at, updated_at)
      VALUES (@id, @email, @email_canonical, @first_name, @last_name, @password_hash, @roles, 1, 0, @now, @now)`),
    byEmail: db.prepare<[string], UserRow>('SELECT * FROM users WHERE email_canonical = ?'),
    byId: db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
    setHash: db.prepare<[string, number, string], UserRow>(
      'UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? RETURNING *',
    ),
    setRoles: db.prepare<[string, number, string], UserRow>(
      'UPDATE users SET roles = ?, updated_at = ? WHERE id = ? RETURNING *',
    ),
    // json(): both sides minified, so a row written with other spacing (an import) still compares.
    setRolesIf: db.prepare<[string, number, string, string], UserRow>(
      'UPDATE users SET roles = ?, updated_at = ? WHERE id = ? AND json(roles) = json(?) RETURNING *',
    ),
    setActive: db.prepare<[number, number, string], UserRow>(
      'UPDATE users SET is_active = ?, updated_at = ? WHERE id = ? RETURNING *',
    ),
    softDelete: db.prepare<[number, string], UserRow>(
      'UPDATE users SET is_deleted = 1, updated_at = ? WHERE id = ? RETURNING *',
    ),
    search: db.prepare<[Record<string, string | number | null>], UserRow>(`SELECT * FROM users
      WHERE (@q IS NULL OR instr(email_canonical, @q) > 0 OR instr(portcullis_fold(first_name), @q) > 0
             OR instr(portcullis_fold(last_name), @q) > 0)
        AND (@after_at IS NULL OR (created_at, id) > (@after_at, @after_id))
      ORDER BY created_at, id LIMIT @limit`),
    insertLogin: db.prepare(`INSERT INTO login_records (user_id, email, ip, user_agent, success, reason, at)
      VALUES (@user_id, @email, @ip, @user_agent, @success, @reason, @at)`),
    recentLogins: db.prepare<[string, number], LoginRow>(
      `SELECT user_id, email, ip, user_agent, success, reason, at FROM login_records
       WHERE user_id = ? ORDER BY at DESC, id DESC LIMIT ?`,
    ),
    lastAudit: db.prepare<[], { id: number; hash: string }>(
      'SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1',
    ),
    insertAudit:
      db.prepare(`INSERT INTO audit_events (id, at, type, user_id, actor, ip, details, prev_hash, hash)
      VALUES (@id, @at, @type, @user_id, @actor, @ip, @details, @prev_hash, @hash)`),
    // Newest first: one user's events from their index (AUDIT_OF_USER_SQL); the others read backwards
    // from the newest row until `limit` of them match.
    listAuditOfUser: db.prepare<[Record<string, string | number | null>], AuditRow>(AUDIT_OF_USER_SQL),
    listAudit: db.prepare<[Record<string, string | number | null>], AuditRow>(AUDIT_SQL),
    allAudit: db.prepare<[], AuditRow>('SELECT * FROM audit_events ORDER BY id'),
    ping: db.prepare('SELECT 1'),
  };

  // Audit ids are assigned inside the write lock because each id is part of the hashed content: only
  // ever called inside a transaction, with the chain's head as it stands in it; returns the new head.
  const auditRow = (head: ChainHead, event: AuditInput, at: number): ChainHead => {
    const content = { ...event, id: head.id + 1, at, details: toPlainJson(event.details) };
    const sealed = sealEvent(head.hash, content);
    sql.insertAudit.run({ ...content, details: sealed.details, prev_hash: head.hash, hash: sealed.hash });
    return { id: content.id, hash: sealed.hash };
  };
  const loginRow = (attempt: LoginAttempt, at: number): void => {
    // The address as typed at login: evidence kept, what no store can hold as U+FFFD (storable.ts).
    const email = toStorable(attempt.email);
    sql.insertLogin.run({ ...attempt, email, success: attempt.success ? 1 : 0, at });
  };
  // One commit for many rows: a commit costs more than the rows it carries. The chain's head is read
  // once, at the batch's first event: nobody else writes inside the transaction.
  const appendRecords = db.transaction((entries: readonly RecordEntry[]): void => {
    let head: ChainHead | null = null;
    for (const entry of entries) {
      if (entry.kind === 'audit') {
        head ??= sql.lastAudit.get() ?? { id: 0, hash: GENESIS_HASH };
        head = auditRow(head, entry.event, entry.at ?? now());
      } else loginRow(entry.attempt, entry.at ?? now());
    }
  });

  // Every method funnels driver errors through here: callers only ever see GatewayErrors.
  /**
   * Login records and audit events are many (several per login) and each FULL commit is an fsync on the
   * event loop. NORMAL still survives a process crash (WAL); only a power cut may lose the last ones.
   */
  // exec, not db.pragma(): it builds no statement object or result rows (3 µs for both, not 15). Not a
  // prepared statement either: SQLite applies this pragma when it compiles it, so a re-run does nothing.
  function relaxed<T>(work: () => T): T {
    db.exec('PRAGMA synchronous = NORMAL');
    try {
      return work();
    } finally {
      db.exec('PRAGMA synchronous = FULL');
    }
  }

  async function guarded<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      // Another connection holds the write lock past the busy timeout: the store cannot answer now.
      const code = (err as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
        throw new GatewayError('users_unavailable', { cause: err });
      throw new GatewayError('internal_error', { cause: err });
    }
  }

  const updated = (row: UserRow | undefined): User | null => (row === undefined ? null : toUser(row));

  return {
    createUser: (input) =>
      guarded(() => {
        const at = now();
        const user = newUserRecord(input, at);
        try {
          sql.insertUser.run({ ...user, roles: JSON.stringify(user.roles), now: at });
        } catch (err) {
          // Only the canonical email carries a UNIQUE constraint; a primary-key clash is reported
          // as SQLITE_CONSTRAINT_PRIMARYKEY and stays an internal error.
          if (isSqliteError(err) && err.code === 'SQLITE_CONSTRAINT_UNIQUE') {
            throw new GatewayError('email_taken', { cause: err });
          }
          throw err;
        }
        return user;
      }),
    findByEmail: (email) =>
      guarded(() => {
        const canonical = canonicalEmail(email);
        // No account holds such an address (registration refuses it): not a lookup to make.
        return storable(canonical) ? updated(sql.byEmail.get(canonical)) : null;
      }),
    findById: (id) => guarded(() => updated(sql.byId.get(id))),
    updatePasswordHash: (id, hash) => guarded(() => updated(sql.setHash.get(hash, now(), id))),
    setRoles: (id, roles) => guarded(() => updated(sql.setRoles.get(JSON.stringify([...roles]), now(), id))),
    setRolesIf: (id, expected, roles) =>
      guarded(() =>
        updated(sql.setRolesIf.get(JSON.stringify([...roles]), now(), id, JSON.stringify([...expected]))),
      ),
    setActive: (id, active) => guarded(() => updated(sql.setActive.get(active ? 1 : 0, now(), id))),
    softDelete: (id) => guarded(() => updated(sql.softDelete.get(now(), id))),
    searchUsers: (query) =>
      guarded(() => {
        const limit = checkLimit(query.limit);
        const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
        const q = query.q === undefined ? '' : canonicalEmail(query.q);
        const rows = sql.search.all({
          q: q === '' ? null : q,
          after_at: after?.created_at ?? null,
          after_id: after?.id ?? null,
          limit: limit + 1,
        });
        return searchPage(rows.map(toUser), limit);
      }),
    recentLogins: (userId, limit) =>
      guarded(() => sql.recentLogins.all(userId, checkLimit(limit)).map(toLoginRecord)),
    // Nearly every write comes with an audit event or a login record: these start the checkpoint thread.
    appendRecords: async (entries) => {
      const checkpoint = checkpointer?.beforeRecords();
      if (checkpoint) await checkpoint;
      return guarded(() => relaxed(() => appendRecords.immediate(entries)));
    },
    listAudit: (query) =>
      guarded(async () => {
        const filter = {
          type: query.type ?? null,
          since: query.since?.getTime() ?? null,
          until: query.until?.getTime() ?? null,
          before: auditBefore(query.before),
          limit: checkLimit(query.limit),
        };
        const [text, statement, params] =
          query.user === undefined
            ? [AUDIT_SQL, sql.listAudit, filter]
            : [AUDIT_OF_USER_SQL, sql.listAuditOfUser, { ...filter, user: query.user }];
        const rows = reader === null ? statement.all(params) : await reader.all<AuditRow>(text, params);
        return rows.map(toAuditEvent);
      }),
    verifyAudit: (expectHead) =>
      guarded(() => {
        const verify = createChainVerifier(expectHead);
        for (const row of sql.allAudit.iterate()) {
          let details: unknown;
          try {
            details = JSON.parse(row.details);
          } catch {
            return { ok: false, first_bad_id: row.id, missing: null };
          }
          const bad = verify.feed({ ...row, details });
          if (bad !== null) return { ok: false, ...bad };
        }
        return { ok: true, ...verify.intact() };
      }),
    ping: () =>
      guarded(() => {
        sql.ping.get();
      }),
    close: async () => {
      await Promise.all([checkpointer?.stop(), reader?.close()]);
      if (db.open) db.close();
    },
    accountData: createAccountData(sqliteRunner(db), now),
  };
}
