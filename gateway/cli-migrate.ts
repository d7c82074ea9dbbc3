// `portcullis migrate-users --from sqlite:FILE --to postgres://… [--force]`: copies users, login records, audit
// events and account-flow data in one transaction, then compares a SHA-256 of both sides. Never touches the source.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { extraArgument, parseCommandLine } from '../config/cli-args.js';
import { openPostgresTransfer } from './users/postgres-store.js';
import { createSqliteDumpSource } from './users/sqlite-dump.js';
import { migrateSqliteFile } from './users/sqlite-store.js';
import { type DumpCounts, type DumpDigest, digestDump } from './users/user-dump.js';

export interface MigrateOutput {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

export interface MigrateHooks {
  /** Runs between the copy and the comparison: lets a test play a gateway still writing to the source. */
  readonly beforeCompare?: () => Promise<void>;
}

const USAGE =
  'usage: portcullis migrate-users --from sqlite:FILE --to postgres://USER@HOST:5432/DB [--force]\n';
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** The password never reaches the terminal (or the CI log that captures it). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

const describeCounts = (c: DumpCounts): string =>
  `${c.users} users, ${c.login_records} login records, ${c.audit_events} audit events, ` +
  `${c.account_rows} account-flow rows`;
const describeDigest = (d: DumpDigest): string => `${describeCounts(d.counts)}, sha256 ${d.sha256}`;

function parse(argv: readonly string[]): { from: string; to: string; force: boolean } | string {
  const line = parseCommandLine(argv, {
    from: { type: 'string' },
    to: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (line.help) return '';
  const problem = line.problem ?? extraArgument(line.positionals, 0);
  if (problem !== null) return problem;
  const { values } = line;
  if (values.from === undefined || !values.from.startsWith('sqlite:') || values.from === 'sqlite:') {
    return '--from must be sqlite:FILE (the database the gateway used so far)';
  }
  if (values.to === undefined || !/^postgres(ql)?:\/\//.test(values.to) || !URL.canParse(values.to)) {
    return '--to must be a postgres:// URL (the password may come from PGPASSWORD instead)';
  }
  return { from: values.from, to: values.to, force: values.force ?? false };
}

export async function runMigrateUsers(
  argv: readonly string[],
  io: MigrateOutput,
  hooks: MigrateHooks = {},
): Promise<number> {
  const args = parse(argv);
  if (typeof args === 'string') {
    if (args === '') {
      io.stdout.write(USAGE);
      return EXIT_OK;
    }
    io.stderr.write(`portcullis migrate-users: ${args}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const file = resolve(args.from.slice('sqlite:'.length));
  // migrateSqliteFile would create a missing file: a typo must not migrate an empty database.
  if (!existsSync(file)) {
    io.stderr.write(`portcullis migrate-users: ${file} does not exist\n`);
    return EXIT_FAILED;
  }
  try {
    // An older file is brought to the current schema first, as the gateway itself does on start.
    migrateSqliteFile(file);
    const source = createSqliteDumpSource(file);
    const target = await openPostgresTransfer(args.to);
    try {
      io.stdout.write(`from ${file}\nto   ${redact(args.to)}\n`);
      const result = await target.load(source, args.force);
      if (!result.ok) {
        io.stderr.write(
          `portcullis migrate-users: the target already holds ${describeCounts(result.existing)}; ` +
            'nothing was copied (--force replaces everything in it)\n',
        );
        return EXIT_FAILED;
      }
      io.stdout.write(`copied ${describeCounts(result.written)}\n`);
      await hooks.beforeCompare?.();
      const [before, after] = [await digestDump(source), await digestDump(target.dump)];
      io.stdout.write(`source ${describeDigest(before)}\ntarget ${describeDigest(after)}\n`);
      if (before.sha256 !== after.sha256) {
        io.stderr.write(
          'portcullis migrate-users: MISMATCH: the two sides differ (was a gateway still writing to the source?); ' +
            'stop every gateway and run again with --force\n',
        );
        return EXIT_FAILED;
      }
      io.stdout.write('OK: both sides hold the same users, login records and audit events\n');
      return EXIT_OK;
    } finally {
      await target.close();
    }
  } catch (err) {
    io.stderr.write(`portcullis migrate-users: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILED;
  }
}
