// Loads a config: strict UTF-8 → YAML with lines → `${VAR}` expansion → schema and rules → resolved paths → deep freeze.
// It throws one ConfigError listing every problem; it never logs, opens pools or reads key files.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError, type ConfigProblem, formatPath, type PathSegment } from './config-error.js';
import { expandTree, type PathProblem } from './expand.js';
import { validateConfig } from './schema.js';
import { GENERATED_SECRETS_FILE, type GeneratedSecretProvider } from './secrets.js';
import type { GatewayConfig, LoadedConfig } from './types.js';
import { decodeUtf8 } from './utf8.js';
import { parseYaml } from './yaml-source.js';

export interface LoadOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Supplies `${VAR:-@generate}` secrets; absent (check-config) means a placeholder is used. */
  readonly generatedSecret?: GeneratedSecretProvider;
}

export interface LoadTextOptions extends LoadOptions {
  readonly file: string | null;
  /** Folder relative paths are resolved against: the config file's. */
  readonly dir: string;
}

/** Stands in for a generated secret when only checking: long enough to pass every length rule. */
export const PLACEHOLDER_SECRET = 'placeholder-for-a-generated-secret-'.padEnd(64, 'x');

function lineFor(lines: ReadonlyMap<string, number>, path: readonly PathSegment[]): number | null {
  // A missing key has no line of its own: point at the nearest enclosing key that exists.
  // The root's own line is used only for problems about the root: "(line 1)" on a missing section misleads.
  if (path.length === 0) return lines.get('') ?? null;
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(formatPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return null;
}

function resolveFile(dir: string, file: string | null): string | null {
  return file === null ? null : resolve(dir, file);
}

function resolvePaths(config: GatewayConfig, dir: string): GatewayConfig {
  const users = config.storage.users;
  const sqlitePath = users.startsWith('sqlite:') ? users.slice('sqlite:'.length) : null;
  const resolvedUsers =
    sqlitePath === null || sqlitePath === ':memory:' || isAbsolute(sqlitePath)
      ? users
      : `sqlite:${resolve(dir, sqlitePath)}`;
  return {
    ...config,
    storage: { ...config.storage, users: resolvedUsers },
    tokens: { ...config.tokens, private_key_file: resolveFile(dir, config.tokens.private_key_file) },
    identity_headers: {
      ...config.identity_headers,
      assertion_key_file: resolveFile(dir, config.identity_headers.assertion_key_file),
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export function loadConfigText(text: string, opts: LoadTextOptions): LoadedConfig {
  const parsed = parseYaml(text);
  if (!parsed.ok) {
    throw new ConfigError(
      parsed.problems.map((p) => ({ path: p.path ?? 'yaml', message: p.message, line: p.line })),
    );
  }

  const generated = new Set<string>();
  const secretsFile = opts.generatedSecret?.file ?? join(opts.dir, 'data', GENERATED_SECRETS_FILE);
  const expanded = expandTree(parsed.value, {
    env: opts.env,
    generate: (name) => {
      const value = opts.generatedSecret ? opts.generatedSecret(name) : PLACEHOLDER_SECRET;
      generated.add(name);
      return value;
    },
  });
  // Taken whatever the outcome, so a fix made during a load that fails is not reported by the next one.
  const fixed = opts.generatedSecret?.takeWarnings?.() ?? [];

  const validation = validateConfig(expanded.value);
  // A value whose variable is unset is reported once, as that, not again as "is required".
  const expansionPaths = new Set(expanded.problems.map((p) => formatPath(p.path)));
  const schemaProblems = validation.ok
    ? []
    : validation.problems.filter((p) => !expansionPaths.has(formatPath(p.path)));
  const all: PathProblem[] = [...expanded.problems, ...schemaProblems];
  if (all.length > 0 || !validation.ok) {
    const problems: ConfigProblem[] = all.map((p) => ({
      path: formatPath(p.path) || 'config',
      message: p.message,
      line: lineFor(parsed.lines, p.path),
    }));
    // Stable sort: file order, then problems with no line (defaults-only keys) last.
    problems.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
    throw new ConfigError(problems);
  }

  const generatedWarnings = [...generated].map((name) =>
    opts.generatedSecret
      ? `${name} is not set: using a generated secret kept in ${secretsFile}; set ${name} in production`
      : `${name} is not set: the gateway will generate a secret and keep it in ${secretsFile}; set ${name} in production`,
  );
  return deepFreeze({
    config: resolvePaths(validation.config, opts.dir),
    source: { file: opts.file, dir: opts.dir },
    warnings: [...generatedWarnings, ...fixed],
  });
}

/** The file's text, read once (a reload checks and hands out these very bytes); ConfigError when unreadable. */
export function readConfigFile(file: string): string {
  const path = resolve(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError([{ path, message: `cannot read the config file (${code})`, line: null }]);
  }
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) {
    throw new ConfigError([{ path: 'config', message: 'file is not valid UTF-8', line: decoded.line }]);
  }
  return decoded.text;
}

export function loadConfigFile(file: string, opts: LoadOptions): LoadedConfig {
  const path = resolve(file);
  return loadConfigText(readConfigFile(path), { ...opts, file: path, dir: dirname(path) });
}
