// `portcullis user …`: operator commands on accounts (create, set-roles, disable, enable, unlock,
// revoke-sessions, show) run against the configured stores through the same operations as the admin API.
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import { createAuditLog } from './audit.js';
import { createLoginGuard } from './auth/login-guard.js';
import { createPasswordPolicy } from './auth/password-policy.js';
import { createPasswordHasher } from './auth/passwords.js';
import { GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import { createOperations } from './operations.js';
import { openStateStore, openUserStore } from './services.js';
import { canonicalEmail } from './users/email.js';
import type { User, UserStore } from './users/user-store.js';

export interface CliOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
}

const USAGE = `usage: portcullis user create --email E --first-name F --last-name L [--roles a,b] --password-stdin
       portcullis user set-roles USER --roles a,b
       portcullis user disable|enable|unlock|revoke-sessions|show USER
USER is a user id or an email. Options: --config FILE.
`;

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
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

export async function runUserCommand(
  argv: readonly string[],
  config: GatewayConfig,
  log: Logger,
  io: CliOutput,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      'first-name': { type: 'string' },
      'last-name': { type: 'string' },
      roles: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      config: { type: 'string' },
    },
  });
  const [action, ref] = positionals;
  if (action === undefined || (action !== 'create' && ref === undefined)) {
    io.stderr.write(USAGE);
    return 2;
  }
  const { users } = await openUserStore(config.storage.users, log);
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
  if (state.kind === 'memory' && action !== 'create' && action !== 'show') {
    io.stderr.write(
      'note: storage.state is memory: a running gateway keeps its sessions; use the admin API for an immediate effect\n',
    );
  }
  const roles = values.roles
    ?.split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  try {
    switch (action) {
      case 'create': {
        if (values['password-stdin'] !== true)
          throw new Error('create reads the password from stdin: pass --password-stdin');
        const user = await ops.createUser(
          {
            email: values.email ?? '',
            password: await readStdin(io.stdin),
            first_name: values['first-name'] ?? '',
            last_name: values['last-name'] ?? '',
            ...(roles === undefined ? {} : { roles }),
          },
          'cli',
        );
        io.stdout.write(describe(user));
        break;
      }
      case 'set-roles':
        io.stdout.write(describe(await ops.setRoles((await findUser(users, ref!)).id, roles ?? [], 'cli')));
        break;
      case 'disable':
      case 'enable':
        io.stdout.write(
          describe(await ops.setActive((await findUser(users, ref!)).id, action === 'enable', 'cli')),
        );
        break;
      case 'unlock':
        io.stdout.write(describe(await ops.unlock((await findUser(users, ref!)).id, 'cli')));
        break;
      case 'revoke-sessions': {
        const ended = await ops.revokeSessions((await findUser(users, ref!)).id, 'cli');
        io.stdout.write(`${JSON.stringify({ revoked: ended.length })}\n`);
        break;
      }
      case 'show':
        io.stdout.write(describe(await findUser(users, ref!)));
        break;
      default:
        io.stderr.write(USAGE);
        return 2;
    }
    return 0;
  } catch (err) {
    const message =
      err instanceof GatewayError
        ? `${err.code}: ${err.message}`
        : err instanceof Error
          ? err.message
          : String(err);
    io.stderr.write(`portcullis user ${action}: ${message}\n`);
    return 1;
  } finally {
    await audit.flush();
    await state.close();
    await users.close();
  }
}
