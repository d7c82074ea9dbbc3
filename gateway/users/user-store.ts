// The UserStore contract every backend (SQLite now, PostgreSQL later) implements, with its types and
// the backend-independent pieces (search cursor, limits). No storage code and no policy decisions here.

import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { AccountData } from './account-data.js';
import type { ChainBreak, ChainHead, ChainIntact } from './audit-chain.js';
import { canonicalEmail } from './email.js';

export interface User {
  /** 32 lowercase hex characters from a CSPRNG: never sequential, never guessable. */
  readonly id: string;
  /** As the user typed it, trimmed. */
  readonly email: string;
  /** canonicalEmail(email): what uniqueness and lookups compare. */
  readonly email_canonical: string;
  readonly first_name: string;
  readonly last_name: string;
  readonly password_hash: string;
  readonly roles: readonly string[];
  readonly is_active: boolean;
  readonly is_deleted: boolean;
  readonly created_at: Date;
  readonly updated_at: Date;
}

export interface NewUser {
  readonly email: string;
  readonly first_name: string;
  readonly last_name: string;
  readonly password_hash: string;
  /** Default ['user']. */
  readonly roles?: readonly string[];
}

export interface SearchQuery {
  /** Case-insensitive substring of the email (canonical form), first name or last name. */
  readonly q?: string;
  /** 1..MAX_SEARCH_LIMIT. */
  readonly limit: number;
  /** next_cursor of the previous page. */
  readonly cursor?: string;
}

export interface SearchResult {
  /** Oldest first, ordered by (created_at, id); deleted and disabled users included. */
  readonly users: readonly User[];
  /** null on the last page. */
  readonly next_cursor: string | null;
}

export interface LoginAttempt {
  /** null when the email matched no user. */
  readonly user_id: string | null;
  readonly email: string;
  readonly ip: string;
  readonly user_agent: string;
  readonly success: boolean;
  /** Why it failed (e.g. 'bad_password', 'locked'); null on success. */
  readonly reason: string | null;
}

export interface LoginRecord extends LoginAttempt {
  readonly at: Date;
}

export interface AuditInput {
  readonly type: string;
  readonly user_id: string | null;
  /** Who did it: 'admin', 'cli', a user id; null for the gateway itself. */
  readonly actor: string | null;
  readonly ip: string | null;
  /** JSON-serialisable; never put a password, token or hash here. */
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditEvent extends AuditInput {
  /** Increasing from 1 in insertion order. */
  readonly id: number;
  readonly at: Date;
}

export interface AuditQuery {
  readonly user?: string;
  readonly type?: string;
  /** Events at or after this instant. */
  readonly since?: Date;
  /** Events before this instant (not at it), so since and until of adjacent ranges never overlap. */
  readonly until?: Date;
  /** Events whose id is below this one: the last id of a page asks for the page after it. */
  readonly before?: number;
  /** 1..MAX_SEARCH_LIMIT. */
  readonly limit: number;
}

export type AuditVerification = ({ readonly ok: true } & ChainIntact) | ({ readonly ok: false } & ChainBreak);

/** Options every backend accepts, so the shared test suite can freeze the clock. */
export interface UserStoreOptions {
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
}

/**
 * One entry of appendRecords: a login attempt or an audit event. `at` is when it happened (ms since the
 * epoch), taken by the audit queue when it was recorded: a write held back by a lock or a retry must not
 * move it. Without it (tooling, tests) the store's clock at the write.
 */
export type RecordEntry =
  | { readonly kind: 'audit'; readonly event: AuditInput; readonly at?: number }
  | { readonly kind: 'login'; readonly attempt: LoginAttempt; readonly at?: number };

/**
 * Every method is async so a networked backend can implement the same contract.
 * Lookups return deleted and disabled users too: the caller decides what they may do.
 * Failures are GatewayErrors: `email_taken` for a duplicate canonical email, `validation_failed`
 * for a bad limit or cursor, `internal_error` (with the backend error as cause) for the rest.
 */
export interface UserStore {
  createUser(input: NewUser): Promise<User>;
  findByEmail(email: string): Promise<User | null>;
  findById(id: string): Promise<User | null>;
  /** Each returns the updated user, or null for an unknown id, and bumps updated_at. */
  updatePasswordHash(id: string, hash: string): Promise<User | null>;
  setRoles(id: string, roles: readonly string[]): Promise<User | null>;
  /**
   * Compare-and-set: sets the roles only while the stored ones are `expected` (the same names in the
   * same order), in one statement. The updated user, or null when the id is unknown or the roles differ.
   * For undoing a change only if no later change replaced it (operations.ts).
   */
  setRolesIf(id: string, expected: readonly string[], roles: readonly string[]): Promise<User | null>;
  setActive(id: string, active: boolean): Promise<User | null>;
  /** The email stays reserved: a deleted account's address cannot be registered again. */
  softDelete(id: string): Promise<User | null>;
  searchUsers(query: SearchQuery): Promise<SearchResult>;
  /** Newest first. */
  recentLogins(userId: string, limit: number): Promise<LoginRecord[]>;
  /**
   * Writes login records and audit events in the order given, in one transaction: all of them, or
   * none when any fails. Each audit event extends the tamper-evident chain (id and prev_hash assigned
   * under the store's write lock). The only writer of both: the audit queue (gateway/audit.ts).
   */
  appendRecords(entries: readonly RecordEntry[]): Promise<void>;
  /** Newest first. */
  listAudit(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Walks the whole chain from the first event; when it is sound, gives its head and, with `expectHead`
   * (a head recorded earlier), whether the log still holds that event with that hash.
   */
  verifyAudit(expectHead?: ChainHead): Promise<AuditVerification>;
  /** Resolves when the store answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The account flows' data (verified address, TOTP, link tokens), in the same database. */
  readonly accountData: AccountData;
}

/** A uuid4 as 32 lowercase hex characters (122 random bits): never sequential, never guessable. */
export function newUserId(): string {
  return randomUUID().replaceAll('-', '');
}

/** The text columns every backend stores as they are. */
export interface UserTextColumns {
  readonly id: string;
  readonly email: string;
  readonly email_canonical: string;
  readonly first_name: string;
  readonly last_name: string;
  readonly password_hash: string;
}

/** A stored row as a User, once the backend has decoded its own types; malformed roles are a store fault. */
export function userFromRow(
  row: UserTextColumns,
  decoded: {
    roles: unknown;
    is_active: boolean;
    is_deleted: boolean;
    created_at: number;
    updated_at: number;
  },
): User {
  const { roles } = decoded;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
    throw new GatewayError('internal_error', { cause: new Error(`user ${row.id} has malformed roles`) });
  }
  return {
    id: row.id,
    email: row.email,
    email_canonical: row.email_canonical,
    first_name: row.first_name,
    last_name: row.last_name,
    password_hash: row.password_hash,
    roles: Object.freeze([...(roles as string[])]),
    is_active: decoded.is_active,
    is_deleted: decoded.is_deleted,
    created_at: new Date(decoded.created_at),
    updated_at: new Date(decoded.updated_at),
  };
}

/** The user a createUser stores: new uuid4-hex id, canonical email, default roles, active, both times `at`. */
export function newUserRecord(input: NewUser, at: number): User {
  return {
    id: newUserId(),
    email: input.email.trim(),
    email_canonical: canonicalEmail(input.email),
    first_name: input.first_name,
    last_name: input.last_name,
    password_hash: input.password_hash,
    roles: Object.freeze([...(input.roles ?? DEFAULT_ROLES)]),
    is_active: true,
    is_deleted: false,
    created_at: new Date(at),
    updated_at: new Date(at),
  };
}

export const DEFAULT_ROLES: readonly string[] = Object.freeze(['user']);
export const MAX_SEARCH_LIMIT = 500;

/**
 * The id bound of an audit listing: `before` when it is a positive integer, else no bound at all
 * (MAX_SAFE_INTEGER, always bound so the stores seek to the page by primary key).
 */
export function auditBefore(before: number | undefined): number {
  if (before === undefined) return Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(before) || before < 1) {
    throw new GatewayError('validation_failed', { message: 'before must be a positive integer' });
  }
  return before;
}

export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw new GatewayError('validation_failed', {
      message: `limit must be an integer from 1 to ${MAX_SEARCH_LIMIT}`,
    });
  }
  return limit;
}

export interface SearchPosition {
  readonly created_at: number; // ms
  readonly id: string;
}

/** A search page from `limit + 1` rows: the extra row only says whether another page exists. */
export function searchPage(users: readonly User[], limit: number): SearchResult {
  const page = users.slice(0, limit);
  const last = page.at(-1);
  return {
    users: page,
    next_cursor:
      users.length > limit && last !== undefined
        ? encodeCursor({ created_at: last.created_at.getTime(), id: last.id })
        : null,
  };
}

/** Opaque to callers; base64url so it travels in a query string untouched. */
export function encodeCursor(position: SearchPosition): string {
  return Buffer.from(`${position.created_at}.${position.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): SearchPosition {
  const match = /^(\d{1,15})\.([0-9a-f]{32})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match === null) throw new GatewayError('validation_failed', { message: 'cursor is invalid' });
  return { created_at: Number(match[1]), id: match[2]! };
}
