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
import type { ChainBreak } from './users/audit-chain.js';
import type { AuditQuery } from './users/user-store.js';

export const AUDIT_USAGE = `usage: portcullis audit verify
       portcullis audit list [--user ID] [--type T] [--since TIME] [--until TIME] [--before ID] [--limit N]
TIME is ISO-8601 or milliseconds since the epoch; N is 1-${AUDIT_LIST_MAX} (default 50); --before ID lists
the events older than event ID (a full page ends with the next one on stderr). Options: --config FILE.
`;

const SPEC = {
  user: { type: 'string' },
  type: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  before: { type: 'string' },
  limit: { type: 'string' },
  config: { type: 'string' },
} as const;

/** `list` carries the user store's own query. */
export type AuditCommand =
  | { readonly action: 'verify' }
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
    const option = Object.keys(values).find((name) => name !== 'config');
    if (option !== undefined) throw fail(`--${option} does not apply to audit verify`);
    return { help: false, config, args: { action } };
  }
  const limit = values.limit === undefined ? 50 : parseCount(values.limit, AUDIT_LIST_MAX);
  if (limit === null) throw fail(`--limit must be an integer from 1 to ${AUDIT_LIST_MAX}`);
  const since = values.since === undefined ? undefined : parseAuditTime(values.since);
  if (since === null) throw fail(`--since must be ${AUDIT_TIME_FORMS}`);
  const until = values.until === undefined ? undefined : parseAuditTime(values.until);
  if (until === null) throw fail(`--until must be ${AUDIT_TIME_FORMS}`);
  const before = values.before === undefined ? undefined : parseAuditId(values.before);
  if (before === null) throw fail('--before must be a positive integer (an event id)');
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
      const result = await users.verifyAudit();
      if (result.ok) {
        io.stdout.write('audit chain intact\n');
        // Nothing to check is no evidence: a wiped table or the wrong database verify too.
        if ((await users.listAudit({ limit: 1 })).length === 0) {
          io.stderr.write('warning: the audit log is empty: is it the database the gateway writes?\n');
        }
        return EXIT_OK;
      }
      io.stdout.write(`audit chain broken${brokenAt(result)}\n`);
      return EXIT_FAILED;
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
