// The built `portcullis` command as an operator types it: --help, bad arguments (one line, the usage,
// exit 2, never a stack), validation errors (their message, exit 2), user create/set-roles rules, a
// config file that is not UTF-8, and a port already taken. Every run names a config file under /tmp.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childBaseYaml, runCliWith } from './helpers.js';

const PASSWORD = 'a long enough passphrase for the cli 42';
const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-args-'));
const file = join(dir, 'gateway.yaml');

type Result = { code: number | null; out: string; err: string };

/** Runs in the temp folder and is killed after 15 s: an old build that starts a gateway fails, not hangs. */
const cli = (...args: string[]): Promise<Result> => runCliWith({ cwd: dir, timeoutMs: 15_000 }, ...args);
const cliInput = (input: string, ...args: string[]): Promise<Result> =>
  runCliWith({ cwd: dir, timeoutMs: 15_000, input }, ...args);

/** One line naming the problem, then the command's usage; exit 2 and no stack trace. */
function expectUsageError(r: Result, command: string, message: string): void {
  expect(r.code, r.err).toBe(2);
  const [first, ...rest] = r.err.split('\n');
  expect(first).toBe(`portcullis ${command}: ${message}`);
  expect(rest.join('\n')).toMatch(/^usage: portcullis /m);
  expect(r.err).not.toMatch(/^\s+at /m);
  expect(r.out).toBe('');
}

function expectNoStack(r: Result): void {
  expect(r.err).not.toMatch(/^\s+at /m);
  expect(r.err).not.toMatch(/Error\b.*\[ERR_/);
}

async function show(ref: string): Promise<{ roles: string[]; is_active: boolean; first_name: string }> {
  const r = await cli('user', 'show', ref, '--config', file);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { roles: string[]; is_active: boolean; first_name: string };
}

beforeAll(() => {
  writeFileSync(
    file,
    `${childBaseYaml(dir, 'warn')}passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }\n`,
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('portcullis --help', () => {
  it.each([['--help'], ['-h'], ['help']])(
    '%s as the first argument prints the usage and exits 0, starting nothing',
    async (flag) => {
      const r = await cli(flag, '--config', file);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^usage: portcullis \[start\] \[--config FILE\]/);
      expect(r.err).toBe('');
    },
  );

  it.each([
    ['start', '--help'],
    ['check-config', '-h'],
    ['user', '--help'],
    ['audit', '--help'],
    ['explain', '--help'],
  ])('%s %s prints that command usage and exits 0', async (command, flag) => {
    const r = await cli(command, flag, '--config', file);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^usage: portcullis /);
    expect(r.err).toBe('');
  });
});

describe('portcullis start: arguments', () => {
  it('refuses an unknown option instead of ignoring it', async () => {
    expectUsageError(await cli('start', '--bogus', '--config', file), 'start', 'unknown option --bogus');
    expectUsageError(await cli('--bogus', '--config', file), 'start', 'unknown option --bogus');
  });

  it('refuses a positional argument and a --config without a file', async () => {
    expectUsageError(await cli('start', 'extra', '--config', file), 'start', 'unexpected argument extra');
    expectUsageError(await cli('start', '--config'), 'start', '--config needs a value');
  });

  it('names the address that is taken instead of printing a stack (exit 1)', async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const { port } = taken.address() as AddressInfo;
    try {
      const busy = join(dir, 'busy.yaml');
      writeFileSync(
        busy,
        childBaseYaml(dir, 'warn').replace(
          'server: { host: 127.0.0.1, port: 0,',
          `server: { host: 127.0.0.1, port: ${port},`,
        ),
      );
      const r = await cli('--config', busy);
      expect(r.code, r.err).toBe(1);
      expect(r.err.trim()).toBe(
        `portcullis: cannot listen on 127.0.0.1:${port} (server.port): the address is already in use`,
      );
      expectNoStack(r);
    } finally {
      await new Promise<void>((done) => taken.close(() => done()));
    }
  });

  it('names a missing key file in one line (exit 1), and check-config finds it first', async () => {
    const missing = join(dir, 'no-such-key.pem');
    const keyless = join(dir, 'keyless.yaml');
    writeFileSync(
      keyless,
      childBaseYaml(dir, 'warn').replace(
        /^tokens: .*$/m,
        `tokens: { algorithm: EdDSA, private_key_file: "${missing}" }`,
      ),
    );
    const problem = `tokens.private_key_file (${missing}): file not found; create it with \`portcullis keygen\``;
    const check = await cli('check-config', '--config', keyless);
    expect(check.code, check.err).toBe(1);
    expect(check.err).toBe(`${keyless}: 1 problem\n${problem}\n`);
    const r = await cli('start', '--config', keyless);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toBe(`portcullis: cannot start: ${problem}\n`);
    expectNoStack(r);
  });
});

describe('a user database that cannot be opened', () => {
  it.each([
    ['a file that is not a database', () => file, 'file is not a database'],
    ['a path SQLite cannot create', () => '/proc/self/portcullis-users.db', 'unable to open database file'],
  ])('%s: start names the file in one line (exit 1)', async (_what, path, reason) => {
    const config = join(dir, 'unopenable.yaml');
    writeFileSync(config, childBaseYaml(dir, 'warn').replace(join(dir, 'users.db'), path()));
    const r = await cli('start', '--config', config);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toBe(`portcullis: cannot start: cannot open the user store at ${path()}: ${reason}\n`);
    expectNoStack(r);
  });
});

describe('a config file that is not UTF-8', () => {
  it('is refused by start and check-config alike, naming the line of the first bad byte', async () => {
    const latin1 = join(dir, 'latin1.yaml');
    const text = childBaseYaml(dir, 'warn').replace(/^tokens: .*$/m, 'tokens:\n  secret: "@@"');
    const [before, after] = text.split('@@') as [string, string];
    // 32 bytes 0xA0..0xBF: Latin-1 text that a lenient decoder turns into 32 × U+FFFD, a constant.
    const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xa0 + i));
    writeFileSync(latin1, Buffer.concat([Buffer.from(before), secret, Buffer.from(after)]));
    const line = before.split('\n').length;

    const start = await cli('start', '--config', latin1);
    expect(start.code, start.err).toBe(1);
    expect(start.err).toContain(`config: file is not valid UTF-8 (line ${line})`);
    expectNoStack(start);

    const check = await cli('check-config', '--config', latin1);
    expect(check.code, check.err).toBe(1);
    expect(check.err).toBe(`${latin1}: 1 problem\nconfig: file is not valid UTF-8 (line ${line})\n`);
  });
});

describe('portcullis user: create', () => {
  it('requires --first-name and --last-name, as register does', async () => {
    expectUsageError(
      await cliInput(
        PASSWORD,
        'user',
        'create',
        '--email',
        'x@example.com',
        '--password-stdin',
        '--config',
        file,
      ),
      'user create',
      '--first-name is required',
    );
    expectUsageError(
      await cliInput(
        PASSWORD,
        'user',
        'create',
        '--email',
        'x@example.com',
        '--first-name',
        'X',
        '--password-stdin',
        '--config',
        file,
      ),
      'user create',
      '--last-name is required',
    );
    expect((await cli('user', 'show', 'x@example.com', '--config', file)).code).toBe(1);
  });

  it('refuses a blank name with the register message (exit 2, no usage, no stack)', async () => {
    const r = await cliInput(
      PASSWORD,
      'user',
      'create',
      '--email',
      'x@example.com',
      '--first-name',
      '   ',
      '--last-name',
      'Y',
      '--password-stdin',
      '--config',
      file,
    );
    expect(r.code, r.err).toBe(2);
    expect(r.err).toBe('portcullis user create: validation_failed: first_name: this field is required\n');
  });

  it('refuses a missing --password-stdin as a usage error', async () => {
    expectUsageError(
      await cli(
        'user',
        'create',
        '--email',
        'x@example.com',
        '--first-name',
        'X',
        '--last-name',
        'Y',
        '--config',
        file,
      ),
      'user create',
      'create reads the password from stdin: pass --password-stdin',
    );
  });

  it('creates a user with trimmed names', async () => {
    const r = await cliInput(
      PASSWORD,
      'user',
      'create',
      '--email',
      'ada@example.com',
      '--first-name',
      ' Ada ',
      '--last-name',
      'Lovelace',
      '--roles',
      'user,admin',
      '--password-stdin',
      '--config',
      file,
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      first_name: 'Ada',
      last_name: 'Lovelace',
      roles: ['user', 'admin'],
    });
  });
});

describe('portcullis user: set-roles', () => {
  it('refuses a missing --roles instead of removing every role', async () => {
    expectUsageError(
      await cli('user', 'set-roles', 'ada@example.com', '--config', file),
      'user set-roles',
      '--roles is required (--none removes every role)',
    );
    expect((await show('ada@example.com')).roles).toEqual(['user', 'admin']);
  });

  it.each([[',,'], [' , ']])('refuses --roles %j: it names no role', async (roles) => {
    expectUsageError(
      await cli('user', 'set-roles', 'ada@example.com', '--roles', roles, '--config', file),
      'user set-roles',
      '--roles names no role (--none removes every role)',
    );
    expect((await show('ada@example.com')).roles).toEqual(['user', 'admin']);
  });

  it('refuses --roles followed by another option, and --roles with --none', async () => {
    expectUsageError(
      await cli('user', 'set-roles', 'ada@example.com', '--roles', '--config', file),
      'user set-roles',
      '--roles needs a value',
    );
    expectUsageError(
      await cli('user', 'set-roles', 'ada@example.com', '--roles', '', '--config', file),
      'user set-roles',
      '--roles needs a value',
    );
    expect((await show('ada@example.com')).roles).toEqual(['user', 'admin']);
    expectUsageError(
      await cli('user', 'set-roles', 'ada@example.com', '--roles', 'admin', '--none', '--config', file),
      'user set-roles',
      '--roles and --none exclude each other',
    );
  });

  it('refuses an invalid role name as a validation error (exit 2)', async () => {
    const r = await cli('user', 'set-roles', 'ada@example.com', '--roles', 'no spaces', '--config', file);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(/^portcullis user set-roles: validation_failed: roles: /m);
    expectNoStack(r);
  });

  it('sets roles, and --none removes every role', async () => {
    const set = await cli('user', 'set-roles', 'ada@example.com', '--roles', 'ops, user', '--config', file);
    expect(set.code, set.err).toBe(0);
    expect(JSON.parse(set.out).roles).toEqual(['ops', 'user']);
    const none = await cli('user', 'set-roles', 'ada@example.com', '--none', '--config', file);
    expect(none.code, none.err).toBe(0);
    expect(JSON.parse(none.out).roles).toEqual([]);
  });
});

describe('portcullis user: bad arguments', () => {
  it('refuses an unknown option', async () => {
    expectUsageError(
      await cli('user', 'show', 'ada@example.com', '--bogus', '--config', file),
      'user show',
      'unknown option --bogus',
    );
  });

  it('refuses an extra positional argument (the user is left alone)', async () => {
    expectUsageError(
      await cli('user', 'disable', 'ada@example.com', 'extra', '--config', file),
      'user disable',
      'unexpected argument extra',
    );
    expect((await show('ada@example.com')).is_active).toBe(true);
  });

  it('refuses an option that does not apply to the action, a missing USER and an unknown action', async () => {
    expectUsageError(
      await cli('user', 'show', 'ada@example.com', '--roles', 'admin', '--config', file),
      'user show',
      '--roles does not apply to user show',
    );
    expectUsageError(await cli('user', 'show', '--config', file), 'user show', 'USER is required');
    expectUsageError(await cli('user', 'rename', 'x', '--config', file), 'user', 'unknown action rename');
    expectUsageError(await cli('user', '--config', file), 'user', 'an action is required');
  });

  it('reports an unknown user as a failure (exit 1), without a stack', async () => {
    const r = await cli('user', 'show', 'nobody@example.com', '--config', file);
    expect(r.code).toBe(1);
    expect(r.err).toBe('portcullis user show: user_not_found: User not found\n');
  });
});

describe('portcullis audit: arguments', () => {
  it.each([['0'], ['abc'], ['100000'], ['1.5']])('refuses --limit %s', async (limit) => {
    expectUsageError(
      await cli('audit', 'list', '--limit', limit, '--config', file),
      'audit list',
      '--limit must be an integer from 1 to 500',
    );
  });

  it('refuses a --since that is no time, and takes one that is', async () => {
    expectUsageError(
      await cli('audit', 'list', '--since', 'x', '--config', file),
      'audit list',
      '--since must be an ISO-8601 date-time with Z or an offset (2026-12-02T08:00:00Z, ' +
        '2026-12-02T09:00+01:00), a date (2026-12-02, midnight UTC) or milliseconds since the epoch',
    );
    const r = await cli('audit', 'list', '--since', '2000-01-01T00:00:00Z', '--limit', '2', '--config', file);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(2);
    const future = await cli('audit', 'list', '--since', String(Date.now() + 3_600_000), '--config', file);
    expect(future.code, future.err).toBe(0);
    expect(future.out).toBe('');
  });

  it.each([['0'], ['1e3'], ['x'], ['1.5'], ['01']])('refuses --before %s', async (before) => {
    expectUsageError(
      await cli('audit', 'list', '--before', before, '--config', file),
      'audit list',
      '--before must be a positive integer (an event id)',
    );
  });

  it('refuses an --until that is no time', async () => {
    expectUsageError(
      await cli('audit', 'list', '--until', '2026-12-02T08:00', '--config', file),
      'audit list',
      `--until must be an ISO-8601 date-time with Z or an offset (2026-12-02T08:00:00Z, ` +
        '2026-12-02T09:00+01:00), a date (2026-12-02, midnight UTC) or milliseconds since the epoch',
    );
  });

  it('pages with --before (a full page names the next one on stderr) and bounds the time with --until', async () => {
    const lines = (out: string) =>
      out
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((line) => JSON.parse(line) as { id: number; at: string });
    const all = await cli('audit', 'list', '--limit', '500', '--config', file);
    expect(all.code, all.err).toBe(0);
    const events = lines(all.out);
    expect(events.length).toBeGreaterThan(2);
    const first = await cli('audit', 'list', '--limit', '2', '--config', file);
    expect(first.code, first.err).toBe(0);
    expect(lines(first.out)).toEqual(events.slice(0, 2));
    expect(first.err).toBe(`more: the next page is --before ${events[1]!.id}\n`);
    const rest = await cli(
      'audit',
      'list',
      '--before',
      String(events[1]!.id),
      '--limit',
      '500',
      '--config',
      file,
    );
    expect(rest.code, rest.err).toBe(0);
    expect(lines(rest.out)).toEqual(events.slice(2));
    expect(rest.err).toBe('');
    const until = await cli('audit', 'list', '--until', events[0]!.at, '--limit', '500', '--config', file);
    expect(until.code, until.err).toBe(0);
    expect(lines(until.out)).toEqual(events.filter((e) => e.at < events[0]!.at));
  });

  it('lists only the events of --user and --type', async () => {
    const all = await cli('audit', 'list', '--limit', '500', '--config', file);
    expect(all.code, all.err).toBe(0);
    const events = all.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { user_id: string | null; type: string });
    const pick = events.find((e) => e.user_id !== null);
    if (pick === undefined) throw new Error('no event of a user to filter on');
    const r = await cli(
      'audit',
      'list',
      '--user',
      pick.user_id!,
      '--type',
      pick.type,
      '--limit',
      '500',
      '--config',
      file,
    );
    expect(r.code, r.err).toBe(0);
    const listed = r.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { user_id: string; type: string });
    const expected = events.filter((e) => e.user_id === pick.user_id && e.type === pick.type);
    expect(listed).toHaveLength(expected.length);
    expect(listed.every((e) => e.user_id === pick.user_id && e.type === pick.type)).toBe(true);
    expectUsageError(
      await cli('audit', 'list', '--user', '', '--config', file),
      'audit list',
      '--user needs a value',
    );
  });

  it('refuses an unknown or missing action and options verify does not take', async () => {
    expectUsageError(await cli('audit', 'bogus', '--config', file), 'audit', 'unknown action bogus');
    expectUsageError(await cli('audit', '--config', file), 'audit', 'an action is required');
    expectUsageError(
      await cli('audit', 'verify', '--limit', '3', '--config', file),
      'audit verify',
      '--limit does not apply to audit verify',
    );
    expectUsageError(
      await cli('audit', 'verify', 'extra', '--config', file),
      'audit verify',
      'unexpected argument extra',
    );
  });
});

describe('portcullis explain: arguments', () => {
  it('validates the method as the admin API does', async () => {
    expectUsageError(
      await cli('explain', 'BAD M', 'http://x/', '--config', file),
      'explain',
      'METHOD must be an HTTP method name like GET',
    );
  });

  it('refuses an unknown option and a missing URL in one line', async () => {
    expectUsageError(
      await cli('explain', 'GET', 'http://x/', '--bogus', '--config', file),
      'explain',
      'unknown option --bogus',
    );
    expectUsageError(await cli('explain', 'GET', '--config', file), 'explain', 'METHOD and URL are required');
  });

  it('refuses an empty option value instead of explaining a request without it', async () => {
    // `--token ''` (an unset shell variable) explained a request with no token at all.
    expectUsageError(
      await cli('explain', 'GET', 'http://x/', '--token', '', '--config', file),
      'explain',
      '--token needs a value',
    );
  });
});
