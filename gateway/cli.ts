#!/usr/bin/env node
// The `portcullis` command: start (default), check-config and keygen. It parses arguments, loads
// the config and wires signals; the work itself lives in the modules it calls.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCheckConfig } from '../config/check.js';
import { loadConfigFile } from '../config/index.js';
import { createSecretFileProvider } from '../config/secrets.js';
import { runKeygen } from './auth/keygen.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logger.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `--config FILE`, else ./gateway.yaml, else the bundled gateway.yaml.example. */
export function resolveConfigFile(argv: readonly string[], cwd = process.cwd()): string {
  const i = argv.indexOf('--config');
  if (i >= 0) {
    const file = argv[i + 1];
    if (file === undefined) throw new Error('--config needs a file');
    return resolve(cwd, file);
  }
  const local = join(cwd, 'gateway.yaml');
  return existsSync(local) ? local : join(PACKAGE_ROOT, 'gateway.yaml.example');
}

async function start(argv: readonly string[]): Promise<number> {
  const file = resolveConfigFile(argv);
  const load = () =>
    loadConfigFile(file, {
      env: process.env,
      generatedSecret: createSecretFileProvider(join(dirname(file), 'data')),
    });
  let loaded: ReturnType<typeof load>;
  try {
    loaded = load();
  } catch (err) {
    process.stderr.write(
      `portcullis: invalid config ${file}\n${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  const { config } = loaded;
  const log = createLogger({ level: config.logging.level, format: config.logging.format });
  for (const warning of loaded.warnings) log.warn({ config: file }, warning);
  const gateway = await startGateway({ config, reloadConfig: () => load().config, log });
  log.info({ config: file, url: gateway.url, admin: gateway.adminUrl }, 'portcullis started');

  process.on('SIGHUP', () => gateway.reload());
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
    process.exitCode = 1;
  },
);
