// migrate-users from a real SQLite file to a fresh PostgreSQL database: nothing lost (users, hashes, roles,
// flags, times, login records, the audit chain), a non-empty target refused, a changed source detected.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runMigrateUsers } from '../../gateway/cli-migrate.js';
import { createPostgresUserStore, postgresExec } from '../../gateway/users/postgres-store.js';
import { createSqliteDumpSource } from '../../gateway/users/sqlite-dump.js';
import { createSqliteUserStore, sqliteExec } from '../../gateway/users/sqlite-store.js';
import { digestDump, PLAIN_TABLES } from '../../gateway/users/user-dump.js';
import type { User, UserStore } from '../../gateway/users/user-store.js';
import { appendAudit, recordLogin } from '../support/records.js';
import { createTestDatabase, type TestDatabase } from './users/postgres-harness.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'gateway', 'cli.js');

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: { write: (t: string) => (out.stdout += t) },
      stderr: { write: (t: string) => (out.stderr += t) },
    },
  };
}

describe('portcullis migrate-users (SQLite → PostgreSQL)', () => {
  let dir: string;
  let file: string;
  let db: TestDatabase;
  let source: UserStore;
  let clock: number;
  const people: User[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-migrate-'));
    file = join(dir, 'users.db');
    db = await createTestDatabase();
    clock = T0;
    source = createSqliteUserStore(file, { now: () => clock });
    people.length = 0;
    const add = async (email: string, first: string, last: string, roles?: string[]) => {
      clock += 1000;
      people.push(
        await source.createUser({
          email,
          first_name: first,
          last_name: last,
          password_hash: `$argon2id$${email}`,
          ...(roles ? { roles } : {}),
        }),
      );
    };
    await add('Alice@Example.com', 'Alice', 'Liddell', ['admin', 'user']);
    await add('bob@example.com', 'Bob', 'Off');
    await add('carol@example.com', 'Carol', 'Gone', []);
    await add('ｚｏｅ@example.com', 'Zoë', 'Müller');
    const [alice, bob, carol] = people as [User, User, User];
    clock += 60_000;
    await source.updatePasswordHash(alice.id, '$argon2id$v=19$m=19456,t=2,p=1$rehashed');
    await source.setActive(bob.id, false);
    await source.softDelete(carol.id);
    const at = { email: 'alice@example.com', ip: '203.0.113.7', user_agent: 'UA/1 "quoted"\n' };
    await recordLogin(source, { ...at, user_id: alice.id, success: false, reason: 'bad_password' });
    await recordLogin(source, { ...at, user_id: alice.id, success: true, reason: null });
    await recordLogin(source, {
      ...at,
      user_id: null,
      email: 'ghost@example.com',
      success: false,
      reason: 'unknown',
    });
    for (let i = 0; i < 3; i++) {
      clock += 1000;
      await appendAudit(source, {
        type: 'roles_changed',
        user_id: alice.id,
        actor: 'cli',
        ip: '::1',
        details: { roles: ['admin'], nested: { z: 1, a: [true, null, 1.5] }, i },
      });
    }
    // Account-flow data (migration 2): a verified address, TOTP with recovery codes, a pending link.
    await source.accountData.setVerifiedEmail(alice.id, 'alice@example.com');
    await source.accountData.setTotpPending(alice.id, 'sealed-totp');
    expect(await source.accountData.enableTotp(alice.id, 'sealed-totp', ['h1', 'h2', 'h3'])).toBe(true);
    expect(await source.accountData.useRecoveryCode(alice.id, 'h2')).toBe(true);
    await source.accountData.setResetRequired(bob.id, true);
    await source.accountData.saveToken('t'.repeat(64), {
      user_id: bob.id,
      purpose: 'password_reset',
      data: '{}',
      expires_at: Date.now() + 3_600_000,
    });
    // More than one page (500 rows) of users and of login records, written in one statement each.
    sqliteExec(
      file,
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100)
       INSERT INTO users (id, email, email_canonical, first_name, last_name, password_hash, roles, is_active,
         is_deleted, created_at, updated_at)
       SELECT lower(hex(randomblob(16))), 'Bulk' || i || '@example.com', 'bulk' || i || '@example.com', 'B', 'U',
         '$h$' || i, '["user"]', 1, 0, ${T0} + i, ${T0} + i FROM n`,
    );
    sqliteExec(
      file,
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
       INSERT INTO login_records (user_id, email, ip, user_agent, success, reason, at)
       SELECT ?, 'alice@example.com', '10.0.0.' || (i % 250), 'UA', i % 2, CASE i % 2 WHEN 0 THEN 'bad_password' END,
         ${T0} + (i / 7) FROM n`,
      alice.id,
    );
  });

  afterEach(async () => {
    await source.close();
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  });

  const migrate = async (...extra: string[]) => {
    const { out, io } = capture();
    const code = await runMigrateUsers(['--from', `sqlite:${file}`, '--to', db.url, ...extra], io);
    return { code, ...out };
  };

  it('copies every user, login record and audit event, and says both sides match', async () => {
    const result = await migrate();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'copied 1104 users, 1203 login records, 3 audit events, 6 account-flow rows\n',
    );
    const digests = [...result.stdout.matchAll(/^(source|target) .* sha256 ([0-9a-f]{64})$/gm)];
    expect(digests).toHaveLength(2);
    expect(digests[0]?.[2]).toBe(digests[1]?.[2]);
    expect(digests[0]?.[2]).toBe((await digestDump(createSqliteDumpSource(file))).sha256);
    expect(result.stdout).toMatch(/^OK: /m);

    const target = await createPostgresUserStore(db.url);
    try {
      for (const before of people) {
        expect(await target.findById(before.id)).toEqual(await source.findById(before.id));
      }
      const alice = people[0] as User;
      expect(await target.recentLogins(alice.id, 50)).toEqual(await source.recentLogins(alice.id, 50));
      expect(await target.listAudit({ limit: 10 })).toEqual(await source.listAudit({ limit: 10 }));
      expect(await target.verifyAudit()).toMatchObject({ ok: true });
      // The chain goes on from the copied events, and the copied users still reserve their emails.
      const next = await appendAudit(target, {
        type: 'migrated',
        user_id: null,
        actor: 'cli',
        ip: null,
        details: {},
      });
      expect(next.id).toBe(4);
      expect(await target.verifyAudit()).toMatchObject({ ok: true });
      await expect(
        target.createUser({
          email: 'ALICE@example.com',
          first_name: 'M',
          last_name: 'M',
          password_hash: 'x',
        }),
      ).rejects.toMatchObject({ code: 'email_taken' });
      expect((await target.searchUsers({ q: 'müller', limit: 5 })).users.map((u) => u.id)).toEqual([
        people[3]?.id,
      ]);
      expect((await target.findByEmail('zoe@example.com'))?.id).toBe(people[3]?.id);
      for (const id of [alice.id, people[1]?.id ?? '']) {
        expect(await target.accountData.security(id)).toEqual(await source.accountData.security(id));
      }
      expect(await target.accountData.recoveryCodesLeft(alice.id)).toBe(2);
      expect(await target.accountData.useRecoveryCode(alice.id, 'h2')).toBe(false); // spent stays spent
      expect(await target.accountData.findToken('t'.repeat(64), 'password_reset')).toEqual(
        await source.accountData.findToken('t'.repeat(64), 'password_reset'),
      );
    } finally {
      await target.close();
    }
  });

  it('copies a login record an older version wrote with NUL in the email (it failed: jsonb refuses \\u0000)', async () => {
    // What a login for `x\u0000@example.com` left in SQLite before attempts were made storable.
    sqliteExec(
      file,
      `INSERT INTO login_records (user_id, email, ip, user_agent, success, reason, at)
       VALUES (NULL, 'x' || char(0) || '@example.com', '203.0.113.9', 'UA', 0, 'unknown_email', ${T0})`,
    );
    const result = await migrate();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('copied 1104 users, 1204 login records');
    expect(result.stdout).toMatch(/^OK: /m);
  });

  it('refuses a target that already holds data, and --force replaces it', async () => {
    expect((await migrate()).code).toBe(0);
    const target = await createPostgresUserStore(db.url);
    const stranger = await target.createUser({
      email: 'new@example.com',
      first_name: 'N',
      last_name: 'N',
      password_hash: 'x',
    });
    await target.close();

    const refused = await migrate();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /already holds 1105 users, 1203 login records, 3 audit events, 6 account-flow/,
    );
    expect(
      await postgresExec(db.url, 'SELECT count(*)::int AS n FROM users WHERE id = $1', stranger.id),
    ).toEqual([{ n: 1 }]);

    const forced = await migrate('--force');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('copied 1104 users');
    expect(
      await postgresExec(db.url, 'SELECT count(*)::int AS n FROM users WHERE id = $1', stranger.id),
    ).toEqual([{ n: 0 }]);
  });

  it('knows every table and column the migrations create (a new one must be added to the dump)', async () => {
    const target = await createPostgresUserStore(db.url);
    await target.close();
    const rows = await postgresExec(
      db.url,
      `SELECT table_name AS t, string_agg(column_name, ',' ORDER BY ordinal_position) AS c
       FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name ORDER BY table_name`,
    );
    const known: Record<string, string> = {
      schema_migrations: 'version,name,applied_at',
      users:
        'id,email,email_canonical,first_name,last_name,first_name_folded,last_name_folded,password_hash,' +
        'roles,is_active,is_deleted,created_at,updated_at',
      login_records: 'id,user_id,email,ip,user_agent,success,reason,at',
      audit_events: 'id,at,type,user_id,actor,ip,details,prev_hash,hash',
      ...Object.fromEntries(PLAIN_TABLES.map((t) => [t.name, t.columns.join(',')])),
    };
    expect(Object.fromEntries(rows.map((r) => [r.t, r.c]))).toEqual(known);
  });

  it('exits 1 with MISMATCH when the source changes before the comparison', async () => {
    const { out, io } = capture();
    const code = await runMigrateUsers(['--from', `sqlite:${file}`, '--to', db.url], io, {
      beforeCompare: async () => {
        await source.setRoles(people[1]?.id ?? '', ['admin']); // a gateway still running on the source
      },
    });
    expect(code).toBe(1);
    expect(out.stderr).toMatch(/MISMATCH/);
  });

  it.each([
    ['no arguments', [], 2],
    ['a PostgreSQL source', ['--from', 'postgres://a@b/c', '--to', 'postgres://a@b/d'], 2],
    ['a SQLite target', ['--from', 'sqlite:/x.db', '--to', 'sqlite:/y.db'], 2],
    ['an unknown flag', ['--from', 'sqlite:/x.db', '--to', 'postgres://a@b/c', '--merge'], 2],
    [
      'a missing source file (never created)',
      ['--from', 'sqlite:/nonexistent/users.db', '--to', 'postgres://a@b/c'],
      1,
    ],
  ])('refuses %s', async (_, argv, expected) => {
    const { out, io } = capture();
    expect(await runMigrateUsers(argv, io)).toBe(expected);
    expect(out.stderr).toMatch(/^portcullis migrate-users: /);
    expect(out.stdout).toBe('');
  });

  it('reports an unreachable target without printing its password', async () => {
    const { out, io } = capture();
    const code = await runMigrateUsers(
      ['--from', `sqlite:${file}`, '--to', 'postgres://gw:hunter2@127.0.0.1:1/gw'],
      io,
    );
    expect(code).toBe(1);
    expect(out.stderr).toMatch(/cannot open the user store at 127\.0\.0\.1:1\/gw/);
    expect(out.stdout + out.stderr).not.toContain('hunter2');
  });

  it('is wired into the portcullis binary (exit code and output)', () => {
    const child = spawnSync(
      process.execPath,
      [CLI, 'migrate-users', '--from', `sqlite:${file}`, '--to', db.url],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.stdout).toMatch(/^OK: /m);
  });
});
