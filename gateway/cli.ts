#!/usr/bin/env node
// The `portcullis` command: start (default), check-config and keygen. It parses arguments, loads
// the config and wires signals; the work itself lives in the modules it calls.
import { dirname, join, resolve } from 'node:path';
import { runCheckConfig } from '../config/check.js';
import {
  defaultConfigFile,
  type LoadedConfig,
  loadConfigFile,
  loadConfigText,
  readConfigFile,
} from '../config/index.js';
import { createSecretFileProvider } from '../config/secrets.js';
import { runKeygen } from './auth/keygen.js';
import { runAuditCommand } from './cli-audit.js';
import { runExplainCommand } from './cli-explain.js';
import { runMigrateUsers } from './cli-migrate.js';
import { runUserCommand } from './cli-user.js';
import { isClusterWorker, runPrimary } from './cluster.js';
import { connectToPrimary } from './cluster-worker.js';
import { type GatewayHandle, startGateway } from './gateway.js';
import { createLogger, type Logger } from './logger.js';

/** `--config FILE` (or `--config=FILE`), else the same default check-config uses. */
export function resolveConfigFile(argv: readonly string[], cwd = process.cwd()): string {
  const i = argv.indexOf('--config');
  const inline = argv.find((a) => a.startsWith('--config='));
  const file = i >= 0 ? argv[i + 1] : inline?.slice('--config='.length);
  if (i >= 0 && (file === undefined || file === '')) throw new Error('--config needs a file');
  return file === undefined ? defaultConfigFile(cwd) : resolve(cwd, file);
}

function configLoader(argv: readonly string[]): {
  file: string;
  load: () => LoadedConfig;
  /** The text of the file, checked: what the cluster primary hands its workers. */
  read: () => { text: string; loaded: LoadedConfig };
  /** Loads text read from the file (by this process or the primary) as if it were the file. */
  parse: (text: string) => LoadedConfig;
} {
  const file = resolveConfigFile(argv);
  const options = {
    env: process.env,
    generatedSecret: createSecretFileProvider(join(dirname(file), 'data')),
  };
  const parse = (text: string): LoadedConfig =>
    loadConfigText(text, { ...options, file, dir: dirname(file) });
  return {
    file,
    load: () => loadConfigFile(file, options),
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

/** Operator commands: the config's stores, a quiet logger, no listeners. */
async function operate(argv: readonly string[], command: 'user' | 'audit' | 'explain'): Promise<number> {
  const { file, load } = configLoader(argv);
  const loaded = loadOrExplain(file, load);
  if (loaded === null) return 1;
  const log = createLogger({ level: 'warn', format: 'json', destination: process.stderr });
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
  if (command === 'explain') return runExplainCommand(argv, loaded.config, log, io);
  return command === 'user'
    ? runUserCommand(argv, loaded.config, log, io)
    : runAuditCommand(argv, loaded.config, io);
}

async function start(argv: readonly string[]): Promise<number> {
  const source = configLoader(argv);
  if (isClusterWorker()) return startWorker(source.file, source.parse);
  const read = loadOrExplain(source.file, source.read);
  if (read === null) return 1;
  const { config, warnings } = read.loaded;
  const log = createLogger({ level: config.logging.level, format: config.logging.format });
  for (const warning of warnings) log.warn({ config: source.file }, warning);
  if (config.server.workers > 1) {
    // The primary loads (and checks) the config first, so generated secrets exist before workers read it.
    return runPrimary({
      workers: config.server.workers,
      log,
      shutdownTimeoutMs: config.server.shutdown_timeout,
      initial: { text: read.text, config },
      read: () => {
        const next = source.read();
        return { text: next.text, config: next.loaded.config };
      },
    });
  }
  const gateway = await startGateway({ config, reloadConfig: () => source.load().config, log });
  return serve(gateway, source.file, log);
}

/**
 * A cluster worker starts on the config texts the primary hands it, not on the file (which may have
 * changed since): the one the cluster started with for its stores and listeners, the one in force for the rest.
 */
async function startWorker(file: string, parse: (text: string) => LoadedConfig): Promise<number> {
  const link = connectToPrimary();
  const { started, text, generation } = await link.config();
  const { config } = parse(started);
  const current = text === started ? config : parse(text).config;
  const log = createLogger({ level: config.logging.level, format: config.logging.format });
  const gateway = await startGateway({ config, current, generation, cluster: link, log });
  link.serve(gateway, (next) => parse(next).config, log);
  return serve(gateway, file, log);
}

/** Runs until SIGTERM or SIGINT; SIGHUP reloads (in a worker: every worker, through the primary). */
function serve(gateway: GatewayHandle, file: string, log: Logger): Promise<number> {
  log.info({ config: file, url: gateway.url, admin: gateway.adminUrl }, 'portcullis started');
  process.on('SIGHUP', () => void gateway.reload());
  return new Promise<number>((done) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'signal received');
      void gateway.shutdown().then(() => log.flush(() => done(0)));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

const USAGE = `usage: portcullis [start] [--config FILE]
       portcullis check-config [--config FILE]
       portcullis keygen --algorithm EdDSA|ES256 --out FILE [--force]
       portcullis user create|set-roles|disable|enable|unlock|revoke-sessions|show … [--config FILE]
       portcullis audit verify|list [--user ID] [--type T] [--limit N] [--config FILE]
       portcullis migrate-users --from sqlite:FILE --to postgres://USER@HOST:5432/DB [--force]
       portcullis explain METHOD URL [--token T] [--user-agent UA] [--dpop PROOF] [--host H] [--json] [--config FILE]
`;

async function main(argv: string[]): Promise<number> {
  const [command = 'start', ...rest] = argv[0]?.startsWith('-') ? ['start', ...argv] : argv;
  const out = { stdout: process.stdout, stderr: process.stderr };
  switch (command) {
    case 'start':
      return start(rest);
    case 'check-config':
      return runCheckConfig(rest, out, process.env);
    case 'keygen':
      return runKeygen(rest, out);
    case 'migrate-users':
      return runMigrateUsers(rest, out);
    case 'user':
    case 'audit':
    case 'explain':
      return operate(rest, command);
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`portcullis: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  // Exit explicitly: after a drain nothing of ours should keep the loop alive, and a stray keep-alive
  // socket must not turn SIGTERM into a hang.
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`portcullis: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    // Exit, don't linger: a failed start must not leave a process behind holding a port or a connection.
    process.exit(1);
  },
);
