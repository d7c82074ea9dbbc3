// `portcullis check-config [--config FILE]`: validates a config and prints its problems or a route summary.
// It never starts listeners, connects to stores or generates secrets (placeholders stand in for them).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extraArgument, type Invocation, invocationOf, parseCommandLine, UsageError } from './cli-args.js';
import { ConfigError } from './config-error.js';
import { loadConfigFile } from './load.js';
import type { GatewayConfig } from './types.js';

export interface CheckOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

const USAGE = 'usage: portcullis check-config [--config FILE]\n';
const MODULE_DIR = dirname(fileURLToPath(import.meta.url));
// config/check.ts runs from the checkout (tests) or from dist/config/check.js (the built CLI).
const BUNDLED_EXAMPLES = [
  join(MODULE_DIR, '..', 'gateway.yaml.example'),
  join(MODULE_DIR, '..', '..', 'gateway.yaml.example'),
];

/** `gateway.yaml` in cwd, else `gateway.yaml.example` there, else the example shipped with the package. */
export function defaultConfigFile(cwd: string = process.cwd()): string {
  const candidates = [join(cwd, 'gateway.yaml'), join(cwd, 'gateway.yaml.example'), ...BUNDLED_EXAMPLES];
  return candidates.find((file) => existsSync(file)) ?? join(cwd, 'gateway.yaml');
}

function parseCheck(argv: readonly string[]): Invocation<null> {
  const args = argv[0] === 'check-config' ? argv.slice(1) : argv;
  const line = parseCommandLine(args, { config: { type: 'string', short: 'c' } });
  if (line.help) return { help: true };
  const problem = line.problem ?? extraArgument(line.positionals, 0);
  if (problem !== null) throw new UsageError(problem);
  return { help: false, config: line.values.config, args: null };
}

/** Hides the password of a postgres:// or redis:// URL: the summary may end up in CI logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths[col] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function summarize(config: GatewayConfig): string {
  const { server, admin, storage } = config;
  const head = [
    `listen:  ${server.host}:${server.port} (admin ${admin.host}:${admin.port}, admin API ${admin.token ? 'on' : 'off'})`,
    `storage: users ${redact(storage.users)}, state ${redact(storage.state)}`,
    `tokens:  ${config.tokens.algorithm}, device binding ${config.device_binding.mode}`,
  ];
  if (config.routes.length === 0) return `${head.join('\n')}\nroutes:  none\n`;
  const rows = [
    ['NAME', 'HOST', 'PATH', 'METHODS', 'AUTH', 'DEVICE', 'UPSTREAMS'],
    ...config.routes.map((r) => [
      r.name,
      r.host ?? '*',
      r.path,
      r.methods?.join(',') ?? '*',
      r.auth,
      // The effective mode: the route's own, else the global one.
      r.device_binding ?? config.device_binding.mode,
      r.upstream.join(', '),
    ]),
  ];
  return `${head.join('\n')}\n\n${table(rows)}\n`;
}

/**
 * `moreProblems`: checks of what the config names outside itself that a start would fail on (the key
 * files, from gateway/: config/ does not read keys), run once the config itself is valid.
 */
export function runCheckConfig(
  argv: readonly string[],
  out: CheckOutput,
  env: NodeJS.ProcessEnv,
  moreProblems: (config: GatewayConfig) => string[] = () => [],
): number {
  const run = invocationOf(() => parseCheck(argv), { name: 'check-config', usage: USAGE }, out);
  if (typeof run === 'number') return run;
  const file = run.config === undefined ? defaultConfigFile() : resolve(run.config);
  try {
    const loaded = loadConfigFile(file, { env });
    for (const warning of loaded.warnings) out.stdout.write(`warning: ${warning}\n`);
    const more = moreProblems(loaded.config);
    if (more.length > 0) {
      out.stderr.write(
        `${file}: ${more.length} problem${more.length === 1 ? '' : 's'}\n${more.join('\n')}\n`,
      );
      return 1;
    }
    const n = loaded.config.routes.length;
    out.stdout.write(`${file}: OK, ${n} route${n === 1 ? '' : 's'}\n${summarize(loaded.config)}`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const n = err.problems.length;
    out.stderr.write(`${file}: ${n} problem${n === 1 ? '' : 's'}\n${err.message}\n`);
    return 1;
  }
}
