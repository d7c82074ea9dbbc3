// The command-line parser every `portcullis` command shares: what it refuses (one line each, worded by
// us rather than node's multi-line errors), what it takes, and that --help wins over any problem.
import { describe, expect, it } from 'vitest';
import { extraArgument, invocationOf, parseCommandLine, UsageError } from '../../config/cli-args.js';

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
    [['--roles', ''], '--roles needs a value'],
    [['--roles='], '--roles needs a value'],
    [['-c', ''], '--config needs a value'],
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

describe('extraArgument', () => {
  it('names the first positional beyond the limit', () => {
    expect(extraArgument(['a', 'b', 'c'], 1)).toBe('unexpected argument b');
    expect(extraArgument(['a'], 1)).toBeNull();
  });
});

describe('invocationOf', () => {
  const command = { name: 'user', usage: 'usage: portcullis user ...\n' };
  const output = () => {
    const text = { stdout: '', stderr: '' };
    const out = {
      stdout: { write: (t: string) => (text.stdout += t) },
      stderr: { write: (t: string) => (text.stderr += t) },
    };
    return { text, out };
  };

  it('passes on what to run', () => {
    const { text, out } = output();
    const run = invocationOf(() => ({ help: false, config: 'f.yaml', args: 7 }), command, out);
    expect(run).toEqual({ help: false, config: 'f.yaml', args: 7 });
    expect(text).toEqual({ stdout: '', stderr: '' });
  });

  it('prints the usage on stdout for --help: exit 0', () => {
    const { text, out } = output();
    expect(invocationOf(() => ({ help: true }), command, out)).toBe(0);
    expect(text).toEqual({ stdout: command.usage, stderr: '' });
  });

  it("prints a usage error with the error's own label, then the usage, on stderr: exit 2", () => {
    const { text, out } = output();
    const parse = () => {
      throw new UsageError('--roles needs a value', 'user set-roles');
    };
    expect(invocationOf(parse, command, out)).toBe(2);
    expect(text).toEqual({
      stdout: '',
      stderr: `portcullis user set-roles: --roles needs a value\n${command.usage}`,
    });
    const plain = output();
    expect(
      invocationOf(
        () => {
          throw new UsageError('an action is required');
        },
        command,
        plain.out,
      ),
    ).toBe(2);
    expect(plain.text.stderr.startsWith('portcullis user: an action is required\n')).toBe(true);
  });

  it('lets any other error through', () => {
    const { out } = output();
    expect(() =>
      invocationOf(
        () => {
          throw new TypeError('bug');
        },
        command,
        out,
      ),
    ).toThrow(TypeError);
  });
});
