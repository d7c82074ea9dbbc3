// Command-line parsing for every `portcullis` command (check-config here, the rest in gateway/): node:util
// parseArgs for the tokens, our rules for what is wrong, one line per problem. It does not validate values.
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** The exit status of a bad command line. */
export const EXIT_USAGE = 2;

/** A bad command line: one line naming the problem (the caller adds the usage); exit status 2. */
export class UsageError extends Error {
  /** `user show`: what the line is prefixed with; absent: the command's own name. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export type OptionSpec = Readonly<
  Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>
>;

type Values<S extends OptionSpec> = { [K in keyof S]?: S[K]['type'] extends 'string' ? string : true };

export interface CommandLine<S extends OptionSpec> {
  readonly values: Values<S>;
  readonly positionals: readonly string[];
  /** `--help` or `-h` was given (anywhere): print the usage, exit 0, whatever else is wrong. */
  readonly help: boolean;
  /** The first thing wrong with the line, or null. The caller throws it once it knows its own label. */
  readonly problem: string | null;
}

/** What a command asked for: its usage, or a run with these arguments and this `--config` (if given). */
export type Invocation<A> =
  | { readonly help: true }
  | { readonly help: false; readonly config: string | undefined; readonly args: A };

/**
 * Parses `argv` against `spec` (plus `--help`/`-h`). Problems: an unknown option, an option given twice,
 * a string option without a value (an empty one, `--token ''` or `--token=`, included; or followed by
 * another option: `--roles --config f` must not set the roles to "--config"), a value given to a flag.
 * Positionals are returned, not judged.
 */
export function parseCommandLine<const S extends OptionSpec>(
  argv: readonly string[],
  spec: S,
): CommandLine<S> {
  const config: ParseArgsConfig = {
    args: [...argv],
    options: { ...spec, help: { type: 'boolean', short: 'h' } },
    // Not strict: node's own errors are multi-line prose with a stack; the tokens let us word each one.
    strict: false,
    allowPositionals: true,
    tokens: true,
  };
  const values: Record<string, string | true> = {};
  const positionals: string[] = [];
  const problems: string[] = [];
  let help = false;
  for (const token of parseArgs(config).tokens ?? []) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      help = true;
      continue;
    }
    const option = Object.hasOwn(spec, token.name) ? spec[token.name] : undefined;
    const name = `--${token.name}`;
    if (option === undefined) problems.push(`unknown option ${token.rawName}`);
    else if (Object.hasOwn(values, token.name)) problems.push(`${name} is given twice`);
    else if (option.type === 'boolean') {
      if (token.value === undefined) values[token.name] = true;
      else problems.push(`${name} takes no value`);
    } else if (
      token.value === undefined ||
      token.value === '' ||
      (token.inlineValue === false && token.value.startsWith('-'))
    ) {
      // `--roles=-x` is a value starting with '-'; `--roles -x` is far more often a forgotten value.
      problems.push(`${name} needs a value`);
    } else values[token.name] = token.value;
  }
  return { values: values as Values<S>, positionals, help, problem: problems[0] ?? null };
}

/** The first positional beyond `max`, worded as a problem; null when there is none. */
export function extraArgument(positionals: readonly string[], max: number): string | null {
  const extra = positionals[max];
  return extra === undefined ? null : `unexpected argument ${extra}`;
}

/** Where a command writes its usage and usage errors. */
export interface UsageOutput {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/**
 * Runs a command's parser: what to run, or the exit status when the command line ends it here (`--help`:
 * the usage on stdout, 0; a usage error: `portcullis COMMAND: problem` and the usage on stderr, 2).
 */
export function invocationOf<A>(
  parse: () => Invocation<A>,
  command: { readonly name: string; readonly usage: string },
  out: UsageOutput,
): { readonly config: string | undefined; readonly args: A } | number {
  let invocation: Invocation<A>;
  try {
    invocation = parse();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.stderr.write(`portcullis ${err.command ?? command.name}: ${err.message}\n${command.usage}`);
    return EXIT_USAGE;
  }
  if (!invocation.help) return invocation;
  out.stdout.write(command.usage);
  return 0;
}
