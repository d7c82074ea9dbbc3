// `portcullis user …`: operator commands on accounts (create, set-roles, disable, enable, unlock,
// revoke-sessions, delete, show) run against the configured stores through the same operations as the
// admin API.
import { extraArgument, type Invocation, parseCommandLine, UsageError } from '../config/cli-args.js';
import type { GatewayConfig } from '../config/types.js';
import { createAuditLog } from './audit.js';
import { createLoginGuard } from './auth/login-guard.js';
import { createPasswordPolicy } from './auth/password-policy.js';
import { createPasswordHasher } from './auth/passwords.js';
import { type CliIo, EXIT_FAILED, failure } from './cli-io.js';
import { GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import { CLI_ACTOR, createOperations } from './operations.js';
import { openStateStore, openUserStore } from './services.js';
import { canonicalEmail } from './users/email.js';
import type { User, UserStore } from './users/user-store.js';

export const USER_USAGE = `usage: portcullis user create --email E --first-name F --last-name L [--roles a,b] --password-stdin
       portcullis user set-roles USER --roles a,b | --none
       portcullis user disable|enable|unlock|revoke-sessions|delete|show USER
USER is a user id or an email. Options: --config FILE.
`;

const SPEC = {
  email: { type: 'string' },
  'first-name': { type: 'string' },
  'last-name': { type: 'string' },
  roles: { type: 'string' },
  none: { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
  config: { type: 'string' },
} as const;

type Option = keyof typeof SPEC;
const ACTIONS = [
  'create',
  'set-roles',
  'disable',
  'enable',
  'unlock',
  'revoke-sessions',
  'delete',
  'show',
] as const;
type Action = (typeof ACTIONS)[number];

/** The options each action takes besides --config: any other is refused, never silently ignored. */
const OPTIONS: Record<Action, readonly Option[]> = {
  create: ['email', 'first-name', 'last-name', 'roles', 'password-stdin'],
  'set-roles': ['roles', 'none'],
  disable: [],
  enable: [],
  unlock: [],
  'revoke-sessions': [],
  delete: [],
  show: [],
};

export type UserCommand =
  | {
      readonly action: 'create';
      readonly email: string;
      readonly first_name: string;
      readonly last_name: string;
      readonly roles: string[] | undefined;
    }
  | { readonly action: 'set-roles'; readonly ref: string; readonly roles: string[] }
  | {
      readonly action: 'disable' | 'enable' | 'unlock' | 'revoke-sessions' | 'delete' | 'show';
      readonly ref: string;
    };

const isAction = (value: string): value is Action => (ACTIONS as readonly string[]).includes(value);

/** `a, b` → ['a', 'b']; null when the list names no role (`''`, `,,`): that is never "remove them all". */
function roleList(text: string): string[] | null {
  const roles = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  return roles.length === 0 ? null : roles;
}

export function parseUserCommand(argv: readonly string[]): Invocation<UserCommand> {
  const line = parseCommandLine(argv, SPEC);
  if (line.help) return { help: true };
  const [action, ...rest] = line.positionals;
  const label = action !== undefined && isAction(action) ? `user ${action}` : 'user';
  const fail = (message: string): UsageError => new UsageError(message, label);
  if (line.problem !== null) throw fail(line.problem);
  if (action === undefined) throw fail('an action is required');
  if (!isAction(action)) throw fail(`unknown action ${action}`);
  const { values } = line;
  for (const name of Object.keys(values) as Option[]) {
    if (name !== 'config' && !OPTIONS[action].includes(name)) {
      throw fail(`--${name} does not apply to user ${action}`);
    }
  }
  const config = values.config;

  if (action === 'create') {
    const extra = extraArgument(rest, 0);
    if (extra !== null) throw fail(extra);
    for (const name of ['email', 'first-name', 'last-name'] as const) {
      if (values[name] === undefined) throw fail(`--${name} is required`);
    }
    if (values['password-stdin'] !== true) {
      throw fail('create reads the password from stdin: pass --password-stdin');
    }
    const roles = values.roles === undefined ? undefined : roleList(values.roles);
    if (roles === null) throw fail('--roles names no role');
    return {
      help: false,
      config,
      args: {
        action,
        email: values.email ?? '',
        first_name: values['first-name'] ?? '',
        last_name: values['last-name'] ?? '',
        roles,
      },
    };
  }

  const [ref] = rest;
  if (ref === undefined) throw fail('USER is required');
  const extra = extraArgument(rest, 1);
  if (extra !== null) throw fail(extra);
  if (action !== 'set-roles') return { help: false, config, args: { action, ref } };
  // Removing every role must be asked for by name: a forgotten or empty --roles used to do it silently.
  if (values.none === true) {
    if (values.roles !== undefined) throw fail('--roles and --none exclude each other');
    return { help: false, config, args: { action, ref, roles: [] } };
  }
  if (values.roles === undefined) throw fail('--roles is required (--none removes every role)');
  const roles = roleList(values.roles);
  if (roles === null) throw fail('--roles names no role (--none removes every role)');
  return { help: false, config, args: { action, ref, roles } };
}

/**
 * The password piped in, decoded strictly: invalid UTF-8 (`pl\xf6ver` from a Latin-1 terminal) is
 * refused, never stored with U+FFFD in place of the byte, a password its owner could never type. A
 * leading byte order mark (some Windows pipes add one) is dropped by the decoder, as it is no character
 * of the password.
 */
async function readPassword(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new GatewayError('validation_failed', { message: 'password: stdin is not valid UTF-8' });
  }
  return text.replace(/\r?\n$/, '');
}

async function findUser(users: UserStore, ref: string): Promise<User> {
  const user = /^[0-9a-f]{32}$/.test(ref)
    ? await users.findById(ref)
    : await users.findByEmail(canonicalEmail(ref));
  if (user === null) throw new GatewayError('user_not_found');
  return user;
}

function describe(user: User): string {
  return `${JSON.stringify({
    id: user.id,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    roles: user.roles,
    is_active: user.is_active,
    is_deleted: user.is_deleted,
  })}\n`;
}

/** The actions whose effect on a running gateway's sessions a memory state store keeps out of reach. */
const SESSION_ACTIONS: readonly Action[] = ['set-roles', 'disable', 'enable', 'revoke-sessions', 'delete'];

export async function runUserCommand(
  command: UserCommand,
  config: GatewayConfig,
  log: Logger,
  io: CliIo,
): Promise<number> {
  const label = `user ${command.action}`;
  let stores: Awaited<ReturnType<typeof open>>;
  try {
    stores = await open(config, log);
  } catch (err) {
    return failure(io, label, err);
  }
  const { users, state, audit } = stores;
  let status: number;
  try {
    status = await run(command, stores, io);
  } finally {
    await audit.flush();
    await state.close();
    await users.close();
  }
  // Whatever the command was, an event it queued and the store never took is a change nobody can see
  // in the log: the operator must hear of it (the operation itself says so when it waited for it).
  const { dropped } = audit.stats();
  if (status === 0 && dropped > 0) {
    io.stderr.write(
      `portcullis ${label}: audit_unwritten: the change was made, but ${dropped} audit event(s) could not be written\n`,
    );
    return EXIT_FAILED;
  }
  return status;
}

async function run(
  command: UserCommand,
  { users, state, ops }: Awaited<ReturnType<typeof open>>,
  io: CliIo,
): Promise<number> {
  const label = `user ${command.action}`;
  try {
    switch (command.action) {
      case 'create': {
        const user = await ops.createUser(
          {
            email: command.email,
            password: await readPassword(io.stdin),
            first_name: command.first_name,
            last_name: command.last_name,
            ...(command.roles === undefined ? {} : { roles: command.roles }),
          },
          CLI_ACTOR,
        );
        io.stdout.write(describe(user));
        break;
      }
      case 'set-roles': {
        const user = await findUser(users, command.ref);
        io.stdout.write(describe(await ops.setRoles(user.id, command.roles, CLI_ACTOR)));
        break;
      }
      case 'disable':
      case 'enable': {
        const user = await findUser(users, command.ref);
        io.stdout.write(describe(await ops.setActive(user.id, command.action === 'enable', CLI_ACTOR)));
        break;
      }
      case 'unlock': {
        const user = await findUser(users, command.ref);
        // The counters live in the running gateway's memory: unlocking this process's own empty ones
        // and answering 0 would tell the operator a lock was cleared that still holds.
        if (state.kind === 'memory') {
          io.stderr.write(
            `portcullis ${label}: storage.state is memory: the locks live in the running gateway's memory, out of this command's reach; nothing was unlocked: use the admin API, POST /api/users/${user.id}/unlock\n`,
          );
          return EXIT_FAILED;
        }
        io.stdout.write(describe(await ops.unlock(user.id, CLI_ACTOR)));
        break;
      }
      case 'revoke-sessions': {
        const ended = await ops.revokeSessions((await findUser(users, command.ref)).id, CLI_ACTOR);
        io.stdout.write(`${JSON.stringify({ revoked: ended.length })}\n`);
        break;
      }
      case 'delete': {
        const { user, earlier } = await ops.deleteUser((await findUser(users, command.ref)).id, CLI_ACTOR);
        if (earlier)
          io.stderr.write('note: the account was already deleted: only its sessions were ended again\n');
        io.stdout.write(describe(user));
        break;
      }
      case 'show':
        io.stdout.write(describe(await findUser(users, command.ref)));
        break;
    }
    // After the change, not before: a command that failed says so in its one line and nothing else.
    if (state.kind === 'memory' && SESSION_ACTIONS.includes(command.action)) {
      io.stderr.write(
        'note: storage.state is memory: a running gateway keeps its sessions; use the admin API for an immediate effect\n',
      );
    }
    return 0;
  } catch (err) {
    return failure(io, label, err);
  }
}

async function open(config: GatewayConfig, log: Logger) {
  const { users } = await openUserStore(config.storage.users, log);
  try {
    const { store: state, limiters } = await openStateStore(config, log);
    const audit = createAuditLog(users, log);
    const guard = createLoginGuard(config, limiters);
    const ops = createOperations({
      users,
      state,
      audit,
      hasher: createPasswordHasher(config.passwords.argon2),
      policy: createPasswordPolicy(config.passwords),
      guard: () => guard,
    });
    return { users, state, audit, ops };
  } catch (err) {
    await users.close();
    throw err;
  }
}
