// `portcullis user` where it used to mislead: a password piped in that is not UTF-8 (once stored with
// U+FFFD), a state store that is down (once a pino line with a stack before the one-line error), and
// `unlock` with a memory state store (once exit 0 and an audit event while the gateway's lock held).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../support/redis.js';
import { expectFailure, loginFrom, PASSWORD } from './enforcement/support.js';
import { childBaseYaml, runCli, runCliWith, startChildGateway } from './helpers.js';

type Result = { code: number | null; out: string; err: string };

const dir = mkdtempSync(join(tmpdir(), 'pc-cli-user-failures-'));
const memoryConfig = join(dir, 'memory.yaml');
const FAST = 'passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }\n';

beforeAll(() => {
  writeFileSync(memoryConfig, `${childBaseYaml(dir, 'info')}${FAST}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const create = (email: string, password: Buffer, config = memoryConfig): Promise<Result> =>
  runCliWith(
    { cwd: dir, input: password },
    'user',
    'create',
    '--email',
    email,
    '--first-name',
    'Ada',
    '--last-name',
    'Lovelace',
    '--password-stdin',
    '--config',
    config,
  );

/** No stack trace, no pino line: each line of stderr is one of ours. */
function expectNoStack(err: string): void {
  expect(err).not.toMatch(/stack/i);
  expect(err).not.toMatch(/^\s+at /m);
  expect(err).not.toMatch(/^\{/m);
}

describe('a password on stdin is strict UTF-8', () => {
  it('Latin-1 bytes are refused in one line (exit 2) and no account is created', async () => {
    // "plöver-harbour-kettle-93" typed in a Latin-1 terminal: 0xF6 alone is no UTF-8.
    const latin1 = Buffer.from('pl\xf6ver-harbour-kettle-93\n', 'latin1');
    const r = await create('latin@example.com', latin1);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toBe('portcullis user create: validation_failed: password: stdin is not valid UTF-8\n');
    expect(r.out).toBe('');
    const shown = await runCli('user', 'show', 'latin@example.com', '--config', memoryConfig);
    expect(shown.code).toBe(1);
  });

  it('the same password in UTF-8 is stored as typed: login with it works on the gateway', async () => {
    const password = 'plöver-harbour-kettle-93';
    const r = await create('utf8@example.com', Buffer.from(`${password}\n`, 'utf8'));
    expect(r.code, r.err).toBe(0);
    const gw = await startChildGateway({ cwd: dir, args: ['start', '--config', memoryConfig] });
    try {
      expect((await loginFrom(gw, 'utf8@example.com', password)).status).toBe(200);
      expectFailure(
        await loginFrom(gw, 'utf8@example.com', 'pl\ufffdver-harbour-kettle-93'),
        401,
        'invalid_credentials',
      );
    } finally {
      await gw.stop();
    }
  });
});

describe('a state store that is down', () => {
  let redis: RedisServer;
  const config = join(dir, 'redis.yaml');
  beforeAll(async () => {
    redis = await startRedis();
    writeFileSync(
      config,
      `${childBaseYaml(dir, 'info').replace('state: memory', `state: "${redis.url}"`)}${FAST}`,
    );
  });
  afterAll(() => redis?.stop());

  it('user disable fails in exactly one line, no stack, no log line (exit 1); the user stays enabled', async () => {
    const made = await create('down@example.com', Buffer.from(PASSWORD), config);
    expect(made.code, made.err).toBe(0);
    await redis.stop();

    const r = await runCli('user', 'disable', 'down@example.com', '--config', config);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toBe('');
    expectNoStack(r.err);
    const lines = r.err.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^portcullis user disable: state_unavailable: /);

    // All or nothing: the sessions could not be ended, so the account was left enabled.
    const shown = await runCli('user', 'show', 'down@example.com', '--config', config);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.err).toBe('');
    expect(JSON.parse(shown.out)).toMatchObject({ is_active: true });
  }, 60_000);
});

describe('user unlock with storage.state: memory', () => {
  it('says the locks are out of reach, names the admin API, exits 1 and records nothing', async () => {
    const made = await create('locked@example.com', Buffer.from(PASSWORD));
    expect(made.code, made.err).toBe(0);
    const id = (JSON.parse(made.out) as { id: string }).id;

    const r = await runCli('user', 'unlock', 'locked@example.com', '--config', memoryConfig);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toBe('');
    const lines = r.err.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^portcullis user unlock: storage\.state is memory: /);
    expect(lines[0]).toContain(`POST /api/users/${id}/unlock`);

    const audit = await runCli('audit', 'list', '--user', id, '--type', 'unlock', '--config', memoryConfig);
    expect(audit.code, audit.err).toBe(0);
    expect(audit.out).toBe('');
  });
});
