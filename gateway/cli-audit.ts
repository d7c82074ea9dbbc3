// `portcullis audit verify|list`: checks the tamper-evident audit chain (names the first broken
// link) and prints recent security events as JSON lines. Reads the user store only.
import { extraArgument, type Invocation, parseCommandLine, UsageError } from '../config/cli-args.js';
import type { GatewayConfig } from '../config/types.js';
import { parseCount } from '../config/units.js';
import {
  AUDIT_LIST_MAX,
  AUDIT_TIME_FORMS,
  isEventType,
  nextBefore,
  parseAuditId,
  parseAuditTime,
} from './audit-query.js';
import { type CliIo, EXIT_FAILED, EXIT_OK, failure } from './cli-io.js';
import { openUserStore } from './services.js';
import type { ChainBreak, ChainHead } from './users/audit-chain.js';
import type { AuditQuery } from './users/user-store.js';

export const AUDIT_USAGE = `usage: portcullis audit verify [--expect-head ID:HASH]
       portcullis audit list [--user ID] [--type T] [--since TIME] [--until TIME] [--before ID] [--limit N]
TIME is ISO-8601 or milliseconds since the epoch; N is 1-${AUDIT_LIST_MAX} (default 50); --before ID lists
the events older than event ID (a full page ends with the next one on stderr). verify prints the head
(ID:HASH of the newest event); --expect-head ID:HASH, a head recorded earlier, fails unless the log still
holds that event with that hash. Options: --config FILE.
`;

const SPEC = {
  user: { type: 'string' },
  type: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  before: { type: 'string' },
  limit: { type: 'string' },
  'expect-head': { type: 'string' },
  config: { type: 'string' },
} as const;

/** `audit verify`'s --expect-head: an event id and its hash (64 hex digits), as verify prints the head. */
const HEAD = /^([1-9]\d{0,15}):([0-9a-fA-F]{64})$/;

/** `list` carries the user store's own query. */
export type AuditCommand =
  | { readonly action: 'verify'; readonly expectHead?: ChainHead }
  | { readonly action: 'list'; readonly query: AuditQuery };

export function parseAuditCommand(argv: readonly string[]): Invocation<AuditCommand> {
  const line = parseCommandLine(argv, SPEC);
  if (line.help) return { help: true };
  const [action, ...rest] = line.positionals;
  const known = action === 'verify' || action === 'list';
  const label = known ? `audit ${action}` : 'audit';
  const fail = (message: string): UsageError => new UsageError(message, label);
  if (line.problem !== null) throw fail(line.problem);
  if (action === undefined) throw fail('an action is required');
  if (!known) throw fail(`unknown action ${action}`);
  const extra = extraArgument(rest, 0);
  if (extra !== null) throw fail(extra);
  const { values } = line;
  const config = values.config;
  if (action === 'verify') {
    const option = Object.keys(values).find((name) => name !== 'config' && name !== 'expect-head');
    if (option !== undefined) throw fail(`--${option} does not apply to audit verify`);
    const raw = values['expect-head'];
    if (raw === undefined) return { help: false, config, args: { action } };
    const m = HEAD.exec(raw);
    const id = m === null ? null : parseAuditId(m[1]!);
    if (m === null || id === null) {
      throw fail(
        '--expect-head must be ID:HASH as audit verify prints the head (an event id, 64 hex digits)',
      );
    }
    return { help: false, config, args: { action, expectHead: { id, hash: m[2]!.toLowerCase() } } };
  }
  const limit = values.limit === undefined ? 50 : parseCount(values.limit, AUDIT_LIST_MAX);
  if (limit === null) throw fail(`--limit must be an integer from 1 to ${AUDIT_LIST_MAX}`);
  const since = values.since === undefined ? undefined : parseAuditTime(values.since);
  if (since === null) throw fail(`--since must be ${AUDIT_TIME_FORMS}`);
  const until = values.until === undefined ? undefined : parseAuditTime(values.until);
  if (until === null) throw fail(`--until must be ${AUDIT_TIME_FORMS}`);
  const before = values.before === undefined ? undefined : parseAuditId(values.before);
  if (before === null) throw fail('--before must be a positive integer (an event id)');
  if (values['expect-head'] !== undefined) throw fail('--expect-head does not apply to audit list');
  if (values.type !== undefined && !isEventType(values.type)) {
    throw fail('--type must be an event type like login_failure');
  }
  const query: AuditQuery = {
    ...(values.user === undefined ? {} : { user: values.user }),
    ...(values.type === undefined ? {} : { type: values.type }),
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(before === undefined ? {} : { before }),
    limit,
  };
  return { help: false, config, args: { action, query } };
}

/** Where the chain breaks, naming deleted events as missing rather than the event after them. */
function brokenAt({ first_bad_id: id, missing }: ChainBreak): string {
  if (missing === null) return ` at event ${id}`;
  const gone =
    missing.from === missing.to
      ? `event ${missing.from} is missing`
      : `events ${missing.from} to ${missing.to} are missing`;
  return `: ${gone} (the chain breaks before event ${id})`;
}

/**
 * Why a sound chain fails the head recorded earlier. The chain itself cannot tell these apart from an
 * untouched log: only the recorded head shows the newest events cut off or the chain written again.
 */
function headMismatch(
  expected: ChainHead,
  found: 'missing' | 'differs' | undefined,
  head: ChainHead | null,
): string {
  if (found === 'differs') {
    return (
      `event ${expected.id} does not have the recorded hash (the log was cut there and written again, ` +
      'or its chain was rewritten)'
    );
  }
  const end = head === null ? 'the log is empty' : `the log ends at event ${head.id}`;
  return `the recorded head, event ${expected.id}, is missing: ${end} (its newest events were cut off, or it was replaced)`;
}

export async function runAuditCommand(
  command: AuditCommand,
  config: GatewayConfig,
  io: Pick<CliIo, 'stdout' | 'stderr'>,
): Promise<number> {
  const label = `audit ${command.action}`;
  let users: Awaited<ReturnType<typeof openUserStore>>['users'];
  try {
    // Read-only: a mistyped path is refused, never created as an empty log that verifies, and the
    // file read is not migrated by a reader (PostgreSQL: the store's own open, as the gateway's).
    ({ users } = await openUserStore(config.storage.users, undefined, { readOnly: true }));
  } catch (err) {
    return failure(io, label, err);
  }
  try {
    if (command.action === 'verify') {
      const result = await users.verifyAudit(command.expectHead);
      if (!result.ok) {
        io.stdout.write(`audit chain broken${brokenAt(result)}\n`);
        return EXIT_FAILED;
      }
      const { head, expected_head: expected } = result;
      const headText = head === null ? 'none (the log is empty)' : `${head.id}:${head.hash}`;
      if (command.expectHead !== undefined && expected !== 'matches') {
        io.stdout.write(`audit chain broken: ${headMismatch(command.expectHead, expected, head)}\n`);
        io.stdout.write(`head ${headText}\n`);
        return EXIT_FAILED;
      }
      io.stdout.write(`audit chain intact\nhead ${headText}\n`);
      // Nothing to check is no evidence: a wiped table or the wrong database verify too.
      if (head === null) {
        io.stderr.write('warning: the audit log is empty: is it the database the gateway writes?\n');
      }
      return EXIT_OK;
    }
    const events = await users.listAudit(command.query);
    for (const e of events) io.stdout.write(`${JSON.stringify(e)}\n`);
    // stdout stays one event per line; the cursor the API answers as next_before goes to stderr.
    const next = nextBefore(events, command.query.limit);
    if (next !== null) io.stderr.write(`more: the next page is --before ${next}\n`);
    return EXIT_OK;
  } catch (err) {
    return failure(io, label, err);
  } finally {
    await users.close();
  }
}
