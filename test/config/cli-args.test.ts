// The command-line parser every `portcullis` command shares: what it refuses (one line each, worded by
// us rather than node's multi-line errors), what it takes, and that --help wins over any problem.
import { describe, expect, it } from 'vitest';
import { configOption, extraArgument, parseCommandLine, UsageError } from '../../config/cli-args.js';

const SPEC = {
  config: { type: 'string', short: 'c' },
  roles: { type: 'string' },
  json: { type: 'boolean' },
} as const;

describe('parseCommandLine', () => {
  it.each([
    [['--bogus'], 'unknown option --bogus'],
    [['-x'], 'unknown option -x'],
    [['--roles'], '--roles needs a value'],
    [['--roles', '--config', 'f'], '--roles needs a value'],
    [['--roles', '-x'], '--roles needs a value'],
    [['--json=yes'], '--json takes no value'],
    [['--roles', 'a', '--roles', 'b'], '--roles is given twice'],
    [['--config', 'a', '-c', 'b'], '--config is given twice'],
    [['--bogus', '--roles'], 'unknown option --bogus'],
  ])('refuses %j: %s', (argv, problem) => {
    expect(parseCommandLine(argv, SPEC).problem).toBe(problem);
  });

  it('takes values, an inline value starting with -, short options and positionals after --', () => {
    const line = parseCommandLine(
      ['show', '--roles=-x', '-c', 'f.yaml', '--json', '--', '--not-an-option'],
      SPEC,
    );
    expect(line).toEqual({
      values: { roles: '-x', config: 'f.yaml', json: true },
      positionals: ['show', '--not-an-option'],
      help: false,
      problem: null,
    });
  });

  it('reports --help and -h anywhere, even beside a problem', () => {
    expect(parseCommandLine(['--bogus', '-h'], SPEC)).toMatchObject({
      help: true,
      problem: 'unknown option --bogus',
    });
    expect(parseCommandLine(['x', '--help'], SPEC).help).toBe(true);
  });

  it('never reads a prototype key as an option', () => {
    expect(parseCommandLine(['--constructor', 'x', '--__proto__'], SPEC).problem).toBe(
      'unknown option --constructor',
    );
  });
});

describe('extraArgument and configOption', () => {
  it('names the first positional beyond the limit', () => {
    expect(extraArgument(['a', 'b', 'c'], 1)).toBe('unexpected argument b');
    expect(extraArgument(['a'], 1)).toBeNull();
  });

  it('refuses an empty --config, keeps an absent one absent', () => {
    expect(configOption(undefined)).toBeUndefined();
    expect(configOption('f.yaml')).toBe('f.yaml');
    expect(() => configOption('', 'user show')).toThrow(
      new UsageError('--config needs a value', 'user show'),
    );
  });
});
