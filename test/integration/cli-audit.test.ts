// `portcullis audit verify|list` read the log they are pointed at and nothing else: a missing or
// mistyped SQLite path is refused (it used to be created, empty, and verified "intact", exit 0), the
// file read is never migrated, and an empty log is warned about. The built CLI on real SQLite files.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from '../../gateway/users/sqlite-migrations.js';
import { migrateSqliteFile, sqliteExec } from '../../gateway/users/sqlite-store.js';
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
