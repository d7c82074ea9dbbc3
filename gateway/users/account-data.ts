// What the account flows keep beside each user (verified address, TOTP, recovery codes, single-use link
// tokens), in SQL both user-store backends run unchanged. No policy here: the flows decide, this stores.
import { GatewayError } from '../errors.js';
import { canonicalEmail } from './email.js';

/**
 * The few things each backend adapts (sqlite-store.ts, postgres-store.ts): SQL uses `?` placeholders in
 * order, integers and text only (no booleans: SQLite has none, and both must read back the same).
 */
export interface SqlRunner {
  query<R extends object>(sql: string, params: readonly (string | number | null)[]): Promise<R[]>;
  /** Runs the statements in one transaction: all of them or none. */
  batch(statements: readonly Statement[]): Promise<void>;
  /** The driver's unique-constraint error (a clash on users.email_canonical here). */
  isUniqueViolation(err: unknown): boolean;
}

export interface Statement {
  readonly sql: string;
  readonly params: readonly (string | number | null)[];
}

/** `?` → `$1, $2, …` for PostgreSQL; the SQL here never has a `?` anywhere else. */
export function numberedParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export interface AccountSecurity {
  /** The canonical address that was verified: verified while it equals the user's current one. */
  readonly verified_email: string | null;
  /** Sealed TOTP secret in use; null = TOTP off. */
  readonly totp_secret: string | null;
  /** Sealed secret waiting for its first code (enroll, not yet confirmed). */
  readonly totp_pending: string | null;
  /** Set by the new-device alert's "this was not me" link; login refused until a password reset. */
  readonly reset_required: boolean;
}

export type TokenPurpose = 'verify_email' | 'password_reset' | 'email_change' | 'device_alert';

export interface OneTimeToken {
  readonly user_id: string;
  readonly purpose: TokenPurpose;
  /** JSON text chosen by the flow (the new address, a session id); never a secret. */
  readonly data: string;
  readonly expires_at: number; // ms
}

export interface AccountData {
  security(userId: string): Promise<AccountSecurity>;
  setVerifiedEmail(userId: string, email: string): Promise<void>;
  setResetRequired(userId: string, required: boolean): Promise<void>;
  setTotpPending(userId: string, sealed: string | null): Promise<void>;
  /**
   * Turns the pending secret on and replaces the recovery codes, only if the pending secret is still
   * `sealed` (a newer enroll in between wins). Returns false when it was not.
   */
  enableTotp(userId: string, sealed: string, codeHashes: readonly string[]): Promise<boolean>;
  /** TOTP off, pending enrollment and recovery codes dropped. */
  disableTotp(userId: string): Promise<void>;
  /** Atomic: true for exactly one caller per unused code. */
  useRecoveryCode(userId: string, codeHash: string): Promise<boolean>;
  recoveryCodesLeft(userId: string): Promise<number>;
  saveToken(hash: string, token: OneTimeToken): Promise<void>;
  /** Atomic: marks the token used and returns it when it is unused, unexpired and of this purpose. */
  consumeToken(hash: string, purpose: TokenPurpose): Promise<OneTimeToken | null>;
  /** The same test without spending it (a link checked before its form is filled in). */
  findToken(hash: string, purpose: TokenPurpose): Promise<OneTimeToken | null>;
  /** Spends every unused token of the user for that purpose; returns how many. */
  voidTokens(userId: string, purpose: TokenPurpose): Promise<number>;
  /** Sets the address (canonical form too); email_taken when another account has it. */
  changeEmail(userId: string, email: string): Promise<void>;
  /** Every sealed TOTP secret, enabled or pending (re-sealing after a key rotation). */
  sealedTotp(): Promise<SealedTotp[]>;
  /** Replaces one sealed secret, only if it is still `from` (an enroll or disable in between wins). */
  replaceSealedTotp(
    userId: string,
    column: keyof Omit<SealedTotp, 'user_id'>,
    from: string,
    to: string,
  ): Promise<boolean>;
}

export interface SealedTotp {
  readonly user_id: string;
  readonly totp_secret: string | null;
  readonly totp_pending: string | null;
}

/** Spent and expired tokens are kept a week (audit questions), then dropped as new ones are saved. */
const TOKEN_RETENTION_MS = 7 * 24 * 3600 * 1000;

interface SecurityRow {
  verified_email: string | null;
  totp_secret: string | null;
  totp_pending: string | null;
  reset_required: number | string;
}

interface TokenRow {
  user_id: string;
  purpose: string;
  data: string;
  expires_at: number | string; // bigint arrives as text from PostgreSQL
}

const NO_SECURITY: AccountSecurity = Object.freeze({
  verified_email: null,
  totp_secret: null,
  totp_pending: null,
  reset_required: false,
});

const toToken = (row: TokenRow | undefined): OneTimeToken | null =>
  row === undefined
    ? null
    : {
        user_id: row.user_id,
        purpose: row.purpose as TokenPurpose,
        data: row.data,
        expires_at: Number(row.expires_at),
      };

export function createAccountData(sql: SqlRunner, now: () => number): AccountData {
  async function guarded<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('internal_error', { cause: err });
    }
  }
  const ensureRow: Statement['sql'] =
    'INSERT INTO account_security (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING';
  const setColumn = (userId: string, set: string, params: (string | number | null)[]) =>
    guarded(() =>
      sql.batch([
        { sql: ensureRow, params: [userId] },
        { sql: `UPDATE account_security SET ${set} WHERE user_id = ?`, params: [...params, userId] },
      ]),
    );
  const TOKEN_COLUMNS = 'user_id, purpose, data, expires_at';

  return {
    security: (userId) =>
      guarded(async () => {
        const [row] = await sql.query<SecurityRow>(
          'SELECT verified_email, totp_secret, totp_pending, reset_required FROM account_security WHERE user_id = ?',
          [userId],
        );
        if (row === undefined) return NO_SECURITY;
        return {
          verified_email: row.verified_email,
          totp_secret: row.totp_secret,
          totp_pending: row.totp_pending,
          reset_required: Number(row.reset_required) === 1,
        };
      }),
    setVerifiedEmail: (userId, email) =>
      setColumn(userId, 'verified_email = ?, verified_at = ?', [canonicalEmail(email), now()]),
    setResetRequired: (userId, required) => setColumn(userId, 'reset_required = ?', [required ? 1 : 0]),
    setTotpPending: (userId, sealed) =>
      setColumn(userId, 'totp_pending = ?, totp_pending_at = ?', [sealed, sealed === null ? null : now()]),

    enableTotp: (userId, sealed, codeHashes) =>
      guarded(async () => {
        const pendingIs = 'EXISTS (SELECT 1 FROM account_security WHERE user_id = ? AND totp_pending = ?)';
        const at = now();
        await sql.batch([
          {
            sql: `DELETE FROM recovery_codes WHERE user_id = ? AND ${pendingIs}`,
            params: [userId, userId, sealed],
          },
          ...codeHashes.map((hash) => ({
            sql: `INSERT INTO recovery_codes (user_id, code_hash, created_at)
                  SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT) WHERE ${pendingIs}`,
            params: [userId, hash, at, userId, sealed],
          })),
          {
            sql: `UPDATE account_security SET totp_secret = totp_pending, totp_enabled_at = ?,
                  totp_pending = NULL, totp_pending_at = NULL WHERE user_id = ? AND totp_pending = ?`,
            params: [at, userId, sealed],
          },
        ]);
        const [row] = await sql.query<{ totp_secret: string | null }>(
          'SELECT totp_secret FROM account_security WHERE user_id = ?',
          [userId],
        );
        return row?.totp_secret === sealed;
      }),
    disableTotp: (userId) =>
      guarded(() =>
        sql.batch([
          { sql: 'DELETE FROM recovery_codes WHERE user_id = ?', params: [userId] },
          {
            sql: `UPDATE account_security SET totp_secret = NULL, totp_enabled_at = NULL, totp_pending = NULL,
                  totp_pending_at = NULL WHERE user_id = ?`,
            params: [userId],
          },
        ]),
      ),
    useRecoveryCode: (userId, codeHash) =>
      guarded(async () => {
        const rows = await sql.query<{ code_hash: string }>(
          `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL
           RETURNING code_hash`,
          [now(), userId, codeHash],
        );
        return rows.length === 1;
      }),
    recoveryCodesLeft: (userId) =>
      guarded(async () => {
        const [row] = await sql.query<{ n: number | string }>(
          'SELECT count(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL',
          [userId],
        );
        return Number(row?.n ?? 0);
      }),

    saveToken: (hash, token) =>
      guarded(() => {
        const at = now();
        return sql.batch([
          { sql: 'DELETE FROM account_tokens WHERE expires_at < ?', params: [at - TOKEN_RETENTION_MS] },
          {
            sql: `INSERT INTO account_tokens (token_hash, ${TOKEN_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
            params: [hash, token.user_id, token.purpose, token.data, token.expires_at, at],
          },
        ]);
      }),
    consumeToken: (hash, purpose) =>
      guarded(async () => {
        const at = now();
        const [row] = await sql.query<TokenRow>(
          `UPDATE account_tokens SET used_at = ?
           WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
           RETURNING ${TOKEN_COLUMNS}`,
          [at, hash, purpose, at],
        );
        return toToken(row);
      }),
    findToken: (hash, purpose) =>
      guarded(async () => {
        const [row] = await sql.query<TokenRow>(
          `SELECT ${TOKEN_COLUMNS} FROM account_tokens
           WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
          [hash, purpose, now()],
        );
        return toToken(row);
      }),
    voidTokens: (userId, purpose) =>
      guarded(async () => {
        const rows = await sql.query<{ token_hash: string }>(
          `UPDATE account_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL
           RETURNING token_hash`,
          [now(), userId, purpose],
        );
        return rows.length;
      }),

    changeEmail: (userId, email) =>
      guarded(async () => {
        try {
          await sql.query('UPDATE users SET email = ?, email_canonical = ?, updated_at = ? WHERE id = ?', [
            email.trim(),
            canonicalEmail(email),
            now(),
            userId,
          ]);
        } catch (err) {
          if (sql.isUniqueViolation(err)) throw new GatewayError('email_taken', { cause: err });
          throw err;
        }
      }),
    sealedTotp: () =>
      guarded(() =>
        sql.query<SealedTotp>(
          `SELECT user_id, totp_secret, totp_pending FROM account_security
           WHERE totp_secret IS NOT NULL OR totp_pending IS NOT NULL ORDER BY user_id`,
          [],
        ),
      ),
    replaceSealedTotp: (userId, column, from, to) =>
      guarded(async () => {
        // The column is one of two names, never from a request; checked anyway since it is spliced in.
        if (column !== 'totp_secret' && column !== 'totp_pending')
          throw new Error(`not a TOTP column: ${column}`);
        const rows = await sql.query<{ user_id: string }>(
          `UPDATE account_security SET ${column} = ? WHERE user_id = ? AND ${column} = ? RETURNING user_id`,
          [to, userId, from],
        );
        return rows.length === 1;
      }),
  };
}
