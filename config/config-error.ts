// The one error the config loader throws: every problem found, each with its key path and line.
// It formats problems; it does not find them (yaml-source, expand, schema and rules do).

export type PathSegment = string | number;

export interface ConfigProblem {
  /** `routes[2].upstream`; `yaml` for a syntax error, the file name when it can't be read. */
  readonly path: string;
  readonly message: string;
  readonly line: number | null;
}

/** `['routes', 2, 'upstream']` → `routes[2].upstream`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

export function formatProblem(problem: ConfigProblem): string {
  const where = problem.line === null ? '' : ` (line ${problem.line})`;
  return `${problem.path}: ${problem.message}${where}`;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
