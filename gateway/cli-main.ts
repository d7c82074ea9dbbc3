// The `portcullis` command: start (default), check-config, keygen, user, audit, migrate-users and explain.
// It parses arguments, loads the config and wires signals; the work itself lives in the modules it calls.
// Loaded by the entry (cli.ts), which holds SIGHUP while these modules load.
import { dirname, join, resolve } from 'node:path';
import { runCheckConfig } from '../config/check.js';
import {
  extraArgument,
  type Invocation,
  invocationOf,
  parseCommandLine,
  UsageError,
} from '../config/cli-args.js';
import {
  defaultConfigFile,
  type GatewayConfig,
  type LoadedConfig,
  listenersOf,
  loadConfigText,
  readConfigFile,
} from '../config/index.js';
import { createSecretFileProvider } from '../config/secrets.js';
import { runKeygen } from './auth/keygen.js';
import { keyFileProblems } from './auth/keys.js';
import { AUDIT_USAGE, type AuditCommand, parseAuditCommand, runAuditCommand } from './cli-audit.js';
import { EXPLAIN_USAGE, type ExplainCommand, parseExplainCommand, runExplainCommand } from './cli-explain.js';
import { type CliIo, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './cli-io.js';
import { runMigrateUsers } from './cli-migrate.js';
import { parseUserCommand, runUserCommand, USER_USAGE, type UserCommand } from './cli-user.js';
import { isClusterWorker, runPrimary } from './cluster.js';
import { connectToPrimary } from './cluster-worker.js';
import { type GatewayHandle, startGateway } from './gateway.js';
import { createLogger, type Logger } from './logger.js';
import type { ReloadSignal } from './reload-signal.js';

const USAGE = `usage: portcullis [start] [--config FILE]
       portcullis check-config [--config FILE]
       portcullis keygen --algorithm EdDSA|ES256 --out FILE [--force]
       portcullis user create|set-roles|disable|enable|unlock|revoke-sessions|delete|show … [--config FILE]
       portcullis audit verify|list [--user ID] [--type T] [--since TIME] [--limit N] [--config FILE]
       portcullis migrate-users --from sqlite:FILE --to postgres://USER@HOST:5432/DB [--force]
       portcullis explain METHOD URL [--token T] [--user-agent UA] [--dpop PROOF] [--host H] [--json] [--config FILE]
       portcullis COMMAND --help
Exit status: 0 done; 1 failed (invalid config, user not found, broken audit chain; explain: denied);
2 bad arguments or a value refused (validation_failed; explain: no answer at all).
`;

/** `--config FILE` as given, else the same default check-config uses. */
function configFile(given: string | undefined): string {
  return resolve(given ?? defaultConfigFile());
}

interface ConfigSource {
  readonly file: string;
  readonly load: () => LoadedConfig;
  /** The text of the file, checked: what the cluster primary hands its workers. */
  readonly read: () => { text: string; loaded: LoadedConfig };
  /** Loads text read from the file (by this process or the primary) as if it were the file. */
  readonly parse: (text: string) => LoadedConfig;
}

function configSource(file: string): ConfigSource {
  const options = {
    env: process.env,
    generatedSecret: createSecretFileProvider(join(dirname(file), 'data')),
  };
  const parse = (text: string): LoadedConfig =>
    loadConfigText(text, { ...options, file, dir: dirname(file) });
  return {
    file,
    load: () => parse(readConfigFile(file)),
    read: () => {
      const text = readConfigFile(file);
      return { text, loaded: parse(text) };
    },
    parse,
  };
}

function loadOrExplain<T>(file: string, load: () => T): T | null {
  try {
    return load();
  } catch (err) {
    process.stderr.write(
      `portcullis: invalid config ${file}\n${err instanceof Error ? err.message : String(err)}\n`,
    );
    return null;
  }
}

/** An operator command: arguments checked before the config is read, then run on its stores. */
interface OperatorCommand<A> {
  readonly name: string;
  readonly usage: string;
  /** The exit status of a config that does not load: explain keeps 1 for "denied". */
  readonly invalidConfig: number;
  parse(argv: readonly string[]): Invocation<A>;
  run(args: A, config: GatewayConfig, log: Logger, io: CliIo): Promise<number>;
}

const USER: OperatorCommand<UserCommand> = {
  name: 'user',
  usage: USER_USAGE,
  invalidConfig: EXIT_FAILED,
  parse: parseUserCommand,
  run: runUserCommand,
};
const AUDIT: OperatorCommand<AuditCommand> = {
  name: 'audit',
  usage: AUDIT_USAGE,
  invalidConfig: EXIT_FAILED,
  parse: parseAuditCommand,
  run: (args, config, _log, io) => runAuditCommand(args, config, io),
};
const EXPLAIN: OperatorCommand<ExplainCommand> = {
  name: 'explain',
  usage: EXPLAIN_USAGE,
  invalidConfig: EXIT_USAGE,
  parse: parseExplainCommand,
  run: runExplainCommand,
};

/** Operator commands: the config's stores, a quiet logger, no listeners. */
async function operate<A>(argv: readonly string[], command: OperatorCommand<A>): Promise<number> {
  const invocation = invocationOf(() => command.parse(argv), command, process);
  if (typeof invocation === 'number') return invocation;
  const file = configFile(invocation.config);
  const loaded = loadOrExplain(file, configSource(file).load);
  if (loaded === null) return command.invalidConfig;
  // Errors only, each one line: the command ends with its own line saying what failed, and a store's
  // warning before it ("state store unreachable", with a stack) is what an operator must not see.
  const log = createLogger({ level: 'error', format: 'json', destination: process.stderr, stackless: true });
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  return command.run(invocation.args, loaded.config, log, io);
}

/** A listener that could not open, as one line naming the address and the key that chose it; else null. */
function listenFailure(err: unknown, config: GatewayConfig): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const reasons: Record<string, string> = {
    EADDRINUSE: 'the address is already in use',
    EACCES: 'permission denied (ports below 1024 need privileges)',
    EADDRNOTAVAIL: 'the address is not one of this machine',
  };
  const reason = e.code === undefined ? undefined : reasons[e.code];
  if (e.syscall !== 'listen' || reason === undefined) return null;
  const samePort = listenersOf(config).filter((l) => l.port === e.port);
  const keys = (samePort.length > 1 ? samePort.filter((l) => l.host === e.address) : samePort).map(
    (l) => l.key,
  );
  const address = e.address?.includes(':') ? `[${e.address}]` : (e.address ?? '?');
  const which = keys.length === 0 ? '' : ` (${keys.join(' or ')})`;
  return `cannot listen on ${address}:${e.port ?? '?'}${which}: ${reason}`;
}

function parseStart(argv: readonly string[]): Invocation<null> {
  const line = parseCommandLine(argv, { config: { type: 'string' } });
  if (line.help) return { help: true };
  const problem = line.problem ?? extraArgument(line.positionals, 0);
  if (problem !== null) throw new UsageError(problem, 'start');
  return { help: false, config: line.values.config, args: null };
}

async function start(argv: readonly string[], hup: ReloadSignal): Promise<number> {
  const invocation = invocationOf(() => parseStart(argv), { name: 'start', usage: USAGE }, process);
  if (typeof invocation === 'number') return invocation;
  const source = configSource(configFile(invocation.config));
  if (isClusterWorker()) return startWorker(source, hup);
  const read = loadOrExplain(source.file, source.read);
  if (read === null) return EXIT_FAILED;
  const { config, warnings } = read.loaded;
  const log = createLogger({ level: config.logging.level, format: config.logging.format });
  exitOnCrash(log);
  for (const warning of warnings) log.warn({ config: source.file }, warning);
  if (config.server.workers > 1) {
    // The primary loads (and checks) the config first, so generated secrets exist before workers read it.
    return runPrimary({
      workers: config.server.workers,
      log,
      shutdownTimeoutMs: config.server.shutdown_timeout,
      reloadSignal: (reload) => hup.serving(reload, log),
      initial: { text: read.text, config },
      read: () => {
        const next = source.read();
        return { text: next.text, config: next.loaded.config };
      },
    });
  }
  const gateway = await started(config, log, () =>
    startGateway({ config, reloadConfig: () => source.load().config, log }),
  );
  return gateway === null ? EXIT_FAILED : serve(gateway, source.file, log, hup);
}

/** How long a crashing process waits for its last log line to be written before it exits anyway. */
const CRASH_FLUSH_MS = 1_000;

/**
 * An exception nothing caught (or a rejection nothing handled) is a bug, and the process's state is no
 * longer known: it exits 1 as Node would, after saying so in the log (level fatal, with the stack) as
 * well as on stderr, so the one place operators collect shows why it ended.
 */
function exitOnCrash(log: Logger): void {
  process.on('uncaughtException', (err, origin) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    log.fatal({ err, origin }, 'uncaught exception: the process exits');
    setTimeout(() => process.exit(EXIT_FAILED), CRASH_FLUSH_MS);
    log.flush(() => process.exit(EXIT_FAILED));
  });
}

/** The gateway `begin` starts, or null when it could not start (said in one line on stderr). */
async function started(
  config: GatewayConfig,
  log: Logger,
  begin: () => Promise<GatewayHandle>,
): Promise<GatewayHandle | null> {
  try {
    return await begin();
  } catch (err) {
    // startGateway has closed whatever it had opened; what is left to say fits on one line (a key file,
    // a store that refuses, a listener that cannot open), with the stack in the log for a real bug.
    const line =
      listenFailure(err, config) ?? `cannot start: ${err instanceof Error ? err.message : String(err)}`;
    log.error({ err }, 'start failed');
    await new Promise<void>((done) => log.flush(() => done()));
    process.stderr.write(`portcullis: ${line}\n`);
    return null;
  }
}

/**
 * A cluster worker starts on the config texts the primary hands it, not on the file (which may have
 * changed since): the one the cluster started with for its stores and listeners, the one in force for the rest.
 */
async function startWorker(source: ConfigSource, hup: ReloadSignal): Promise<number> {
  const link = connectToPrimary();
  const { started: first, text, generation } = await link.config();
  const { config } = source.parse(first);
  const current = text === first ? config : source.parse(text).config;
  const log = createLogger({ level: config.logging.level, format: config.logging.format });
  exitOnCrash(log);
  const gateway = await started(config, log, () =>
    startGateway({ config, current, generation, cluster: link, log }),
  );
  if (gateway === null) return EXIT_FAILED;
  link.serve(gateway, (next) => source.parse(next).config, log);
  return serve(gateway, source.file, log, hup);
}

/** Runs until SIGTERM or SIGINT; SIGHUP reloads (in a worker: every worker, through the primary). */
function serve(gateway: GatewayHandle, file: string, log: Logger, hup: ReloadSignal): Promise<number> {
  log.info({ config: file, url: gateway.url, admin: gateway.adminUrl }, 'portcullis started');
  hup.serving(() => void gateway.reload(), log);
  return new Promise<number>((done) => {
    let stopping = false;
    // Kept for every signal, not once: a second SIGTERM (or SIGINT) would otherwise get the default
    // action and kill the process mid-drain.
    const stop = (signal: string): void => {
      if (stopping) {
        log.info(
          { signal },
          'signal received while draining: in-flight requests still have until shutdown_timeout',
        );
        return;
      }
      stopping = true;
      log.info({ signal }, 'signal received');
      void gateway.shutdown().then(() => log.flush(() => done(EXIT_OK)));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

async function main(argv: string[], hup: ReloadSignal): Promise<number> {
  const first = argv[0];
  // Before the "an option means start" rule below: `portcullis --help` must never start a gateway.
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const [command = 'start', ...rest] = first?.startsWith('-') ? ['start', ...argv] : argv;
  // Only a gateway reloads: any other command gets SIGHUP's default back (one that came meanwhile ends it).
  if (command !== 'start') hup.release();
  const out = { stdout: process.stdout, stderr: process.stderr };
  switch (command) {
    case 'start':
      return start(rest, hup);
    case 'check-config':
      return runCheckConfig(rest, out, process.env, keyFileProblems);
    case 'keygen':
      return runKeygen(rest, out);
    case 'migrate-users':
      return runMigrateUsers(rest, out);
    case 'user':
      return operate(rest, USER);
    case 'audit':
      return operate(rest, AUDIT);
    case 'explain':
      return operate(rest, EXPLAIN);
    default:
      process.stderr.write(`portcullis: unknown command "${command}"\n${USAGE}`);
      return EXIT_USAGE;
  }
}

/** Runs the command named by `argv` and exits with its code; `hup` has held SIGHUP since the process began. */
export function run(argv: string[], hup: ReloadSignal): void {
  main(argv, hup).then(
    // Exit explicitly: after a drain nothing of ours should keep the loop alive, and a stray keep-alive
    // socket must not turn SIGTERM into a hang.
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(
        `portcullis: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      // Exit, don't linger: a failed start must not leave a process behind holding a port or a connection.
      process.exit(1);
    },
  );
}
