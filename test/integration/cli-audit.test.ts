// `portcullis audit verify|list` read the log they are pointed at and nothing else: a missing or
// mistyped SQLite path is refused (it used to be created, empty, and verified "intact", exit 0), the
// file read is never migrated, and an empty log is warned about. The built CLI on real SQLite files.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../gateway/users/sqlite-migrations.js';
import { createSqliteUserStore, migrateSqliteFile, sqliteExec } from '../../gateway/users/sqlite-store.js';
import { appendAudit } from '../support/records.js';
import { runCliWith } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-cli-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A config whose storage.users is `file` (the rest as any test config). */
function configFor(file: string): string {
  const config = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    config,
    `storage: { users: "sqlite:${file}", state: memory }
tokens: { secret: "test-secret-that-is-at-least-32-bytes-long!!" }
`,
  );
  return config;
}
const audit = (file: string, ...args: string[]) =>
  runCliWith({ cwd: dir, timeoutMs: 15_000 }, 'audit', ...args, '--config', configFor(file));

describe('security: audit commands on a SQLite path', () => {
  it.each([['verify'], ['list']])(
    'audit %s on a missing file exits 1 and creates nothing',
    async (action) => {
      const file = join(dir, 'typo', 'portcullis.db');
      const r = await audit(file, action);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toBe(`portcullis audit ${action}: cannot read the user store at ${file}: no such file\n`);
      expect(r.out).toBe('');
      expect(existsSync(file)).toBe(false);
      expect(existsSync(join(dir, 'typo'))).toBe(false);
    },
  );

  it('a file of an older schema is refused and left as it was (not migrated)', async () => {
    const file = join(dir, 'old.db');
    migrateSqliteFile(file, SQLITE_MIGRATIONS.slice(0, 2));
    const r = await audit(file, 'verify');
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain('its schema version 2 is not');
    expect(sqliteExec(file, 'SELECT max(version) AS v FROM schema_migrations')).toEqual([{ v: 2 }]);
  });

  it('an empty log verifies with a warning on stderr', async () => {
    const file = join(dir, 'empty.db');
    migrateSqliteFile(file);
    const r = await audit(file, 'verify');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('audit chain intact');
    expect(r.err).toContain('warning: the audit log is empty');
  });
});

describe('security: audit verify --expect-head (a head recorded elsewhere)', () => {
  /** Appends `n` events to the log in `file` through the store, as the gateway writes them. */
  async function append(file: string, n: number): Promise<void> {
    const store = createSqliteUserStore(file);
    try {
      for (let i = 0; i < n; i++) {
        await appendAudit(store, { type: 'unlock', user_id: null, actor: 'admin', ip: null, details: { i } });
      }
    } finally {
      await store.close();
    }
  }
  const headOf = (out: string): string => /^head (\d+:[0-9a-f]{64})$/m.exec(out)?.[1] ?? '';

  it('prints the head; a recorded head fails once the tail is cut off or written again', async () => {
    const file = join(dir, 'head.db');
    await append(file, 3);
    const first = await audit(file, 'verify');
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^audit chain intact\nhead 3:[0-9a-f]{64}\n$/);
    const recorded = headOf(first.out);
    expect((await audit(file, 'verify', '--expect-head', recorded)).code).toBe(0);
    expect((await audit(file, 'verify', '--expect-head', recorded.toUpperCase())).code).toBe(0);
    await append(file, 1);
    const later = await audit(file, 'verify', '--expect-head', recorded);
    expect(later.code, later.out).toBe(0);
    expect(headOf(later.out)).toMatch(/^4:/);

    // An insider removes the newest events: the rest of the chain is sound, so only the head shows it.
    sqliteExec(file, 'DELETE FROM audit_events WHERE id >= 3');
    expect((await audit(file, 'verify')).code).toBe(0);
    const cut = await audit(file, 'verify', '--expect-head', recorded);
    expect(cut.code).toBe(1);
    expect(cut.out).toContain(
      'audit chain broken: the recorded head, event 3, is missing: the log ends at event 2',
    );
    // ... then lets the gateway write again: event 3 exists, with another hash.
    await append(file, 2);
    const rewritten = await audit(file, 'verify', '--expect-head', recorded);
    expect(rewritten.code).toBe(1);
    expect(rewritten.out).toContain('audit chain broken: event 3 does not have the recorded hash');
    sqliteExec(file, 'DELETE FROM audit_events');
    const emptied = await audit(file, 'verify', '--expect-head', recorded);
    expect(emptied.code).toBe(1);
    expect(emptied.out).toContain('is missing: the log is empty');
  }, 60_000);

  it.each(['3', '3:abc', `0:${'a'.repeat(64)}`, `x:${'a'.repeat(64)}`, `3:${'g'.repeat(64)}`])(
    'refuses --expect-head %s (exit 2)',
    async (value) => {
      const file = join(dir, 'empty-for-args.db');
      migrateSqliteFile(file);
      const r = await audit(file, 'verify', '--expect-head', value);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain('portcullis audit verify: --expect-head must be ID:HASH');
    },
  );
});
