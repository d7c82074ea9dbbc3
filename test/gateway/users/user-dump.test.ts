// The canonical dump digest migrate-users compares: any change to any stored field, or to row order,
// must change it; key order inside audit details and page boundaries must not.

import { describe, expect, it } from 'vitest';
import {
  type DumpSource,
  digestDump,
  type PlainRow,
  type StoredAuditEvent,
} from '../../../gateway/users/user-dump.js';
import type { LoginRecord, User } from '../../../gateway/users/user-store.js';

const user: User = {
  id: 'a'.repeat(32),
  email: 'Alice@Example.com',
  email_canonical: 'alice@example.com',
  first_name: 'Alice',
  last_name: 'Liddell',
  password_hash: '$argon2id$x',
  roles: ['admin', 'user'],
  is_active: true,
  is_deleted: false,
  created_at: new Date(1000),
  updated_at: new Date(2000),
};
const login: LoginRecord = {
  user_id: user.id,
  email: 'alice@example.com',
  ip: '203.0.113.7',
  user_agent: 'UA',
  success: true,
  reason: null,
  at: new Date(3000),
};
const event: StoredAuditEvent = {
  id: 1,
  at: new Date(4000),
  type: 'roles_changed',
  user_id: user.id,
  actor: 'cli',
  ip: '::1',
  details: { a: 1, b: { c: [1, 2] } },
  prev_hash: '0'.repeat(64),
  hash: 'f'.repeat(64),
};

const codes: PlainRow[] = [{ user_id: user.id, code_hash: 'c'.repeat(64), created_at: 5000, used_at: null }];

function source(
  users: User[][],
  logins: LoginRecord[][],
  audit: StoredAuditEvent[][],
  recovery: PlainRow[] = codes,
): DumpSource {
  const pages = <T>(list: T[][]) =>
    async function* () {
      yield* list;
    };
  return {
    users: pages(users),
    logins: pages(logins),
    audit: pages(audit),
    rows: (table) => pages(table.name === 'recovery_codes' ? [recovery] : [])(),
  };
}

const base = () => digestDump(source([[user]], [[login, { ...login, success: false }]], [[event]]));

describe('digestDump', () => {
  it('counts rows and ignores how they are paged and how detail keys are ordered', async () => {
    const one = await base();
    expect(one.counts).toEqual({ users: 1, login_records: 2, audit_events: 1, account_rows: 1 });
    const again = await digestDump(
      source(
        [[], [user]],
        [[login], [{ ...login, success: false }]],
        [[{ ...event, details: { b: { c: [1, 2] }, a: 1 } }]],
      ),
    );
    expect(again).toEqual(one);
  });

  it.each<[string, DumpSource]>([
    [
      'password hash',
      source([[{ ...user, password_hash: '$other' }]], [[login, { ...login, success: false }]], [[event]]),
    ],
    [
      'roles order',
      source([[{ ...user, roles: ['user', 'admin'] }]], [[login, { ...login, success: false }]], [[event]]),
    ],
    [
      'is_active',
      source([[{ ...user, is_active: false }]], [[login, { ...login, success: false }]], [[event]]),
    ],
    [
      'is_deleted',
      source([[{ ...user, is_deleted: true }]], [[login, { ...login, success: false }]], [[event]]),
    ],
    [
      'updated_at by 1 ms',
      source([[{ ...user, updated_at: new Date(2001) }]], [[login, { ...login, success: false }]], [[event]]),
    ],
    [
      'email case',
      source([[{ ...user, email: 'alice@Example.com' }]], [[login, { ...login, success: false }]], [[event]]),
    ],
    ['login order', source([[user]], [[{ ...login, success: false }, login]], [[event]])],
    ['a login record lost', source([[user]], [[login]], [[event]])],
    [
      'login user agent',
      source(
        [[user]],
        [
          [
            { ...login, user_agent: 'UA2' },
            { ...login, success: false },
          ],
        ],
        [[event]],
      ),
    ],
    [
      'audit details value',
      source(
        [[user]],
        [[login, { ...login, success: false }]],
        [[{ ...event, details: { a: 2, b: { c: [1, 2] } } }]],
      ),
    ],
    [
      'audit hash',
      source([[user]], [[login, { ...login, success: false }]], [[{ ...event, hash: 'e'.repeat(64) }]]),
    ],
    [
      'audit prev_hash',
      source([[user]], [[login, { ...login, success: false }]], [[{ ...event, prev_hash: '1'.repeat(64) }]]),
    ],
    [
      'a recovery code spent',
      source([[user]], [[login, { ...login, success: false }]], [[event]], [{ ...codes[0], used_at: 6000 }]),
    ],
    ['a recovery code lost', source([[user]], [[login, { ...login, success: false }]], [[event]], [])],
    ['a row moved across tables', source([[user]], [[login, { ...login, success: false }]], [])],
  ])('changes when %s differs', async (_, changed) => {
    expect((await digestDump(changed)).sha256).not.toBe((await base()).sha256);
  });
});
