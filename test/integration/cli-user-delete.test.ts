// `portcullis user delete` (and the admin API's DELETE) on a running gateway sharing Redis, with users in
// SQLite and in PostgreSQL: the token dies at once, login answers as for a wrong password, one
// user_deleted event, a repeat changes nothing, what a deleted account refuses, and bad arguments.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPem } from '../../gateway/auth/keys.js';
import { createTestDatabase, type TestDatabase } from '../gateway/users/postgres-harness.js';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../support/gateway.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import {
  expectFailure,
  FAST_ARGON2,
  limitsYaml,
  loginFrom,
  loginOk,
  newUser,
  PASSWORD,
  registerOk,
  send,
  WRONG,
} from './enforcement/support.js';
import { type ChildGateway, childBaseYaml, runCli, startChildGateway } from './helpers.js';

type Result = { code: number | null; out: string; err: string };

interface Shown {
  readonly id: string;
  readonly roles: string[];
  readonly is_active: boolean;
  readonly is_deleted: boolean;
}

describe.each(['sqlite', 'postgres'] as const)('users in %s, sessions in Redis', (kind) => {
  let redis: RedisServer;
  let pg: TestDatabase | null = null;
  let dir: string;
  let configFile: string;
  let gw: ChildGateway;

  const user = (...args: string[]): Promise<Result> => runCli('user', ...args, '--config', configFile);
  const adminCall = (method: string, path: string) =>
    send({ url: `http://127.0.0.1:${gw.adminPort}` }, method, path, { token: TEST_ADMIN_TOKEN });
  const me = (token: string) => send(gw, 'GET', '/api/users/me', { token });

  async function deletedEvents(id: string): Promise<Array<{ actor: string }>> {
    const r = await runCli('audit', 'list', '--user', id, '--type', 'user_deleted', '--config', configFile);
    expect(r.code, r.err).toBe(0);
    return r.out === ''
      ? []
      : r.out
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { actor: string });
  }

  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'pc-cli-delete-'));
    let storage = `storage: { users: "sqlite:${join(dir, 'users.db')}", state: "${redis.url}" }`;
    if (kind === 'postgres') {
      pg = await createTestDatabase();
      const key = join(dir, 'assertion.pem');
      writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
      storage = `storage: { users: "${pg.url}", state: "${redis.url}" }
identity_headers: { assertion_key_file: "${key}" }`;
    }
    const yaml = `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
${storage}
tokens: { secret: "${TEST_SECRET}" }
logging: { level: info }
${FAST_ARGON2}
${limitsYaml()}
`;
    configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, yaml);
    gw = await startChildGateway({ cwd: dir, yaml });
  }, 60_000);
  afterAll(async () => {
    await gw?.stop();
    await Promise.all([redis?.stop(), pg?.drop()]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('user delete: exit 0 and the user; the token is 401 token_revoked at once; login answers as a wrong password', async () => {
    const account = await registerOk(gw);
    const s = await loginOk(gw, account.email);
    expect((await me(s.access)).status).toBe(200);

    const r = await user('delete', account.email);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toMatchObject({ id: account.id, is_deleted: true });

    expectFailure(await me(s.access), 401, 'token_revoked');
    const right = await loginFrom(gw, account.email, PASSWORD);
    const wrong = await loginFrom(gw, account.email, WRONG);
    expectFailure(right, 401, 'invalid_credentials');
    expect(right.body).toEqual(wrong.body);
    expect(await deletedEvents(account.id)).toEqual([expect.objectContaining({ actor: 'cli' })]);
  });

  // Eight CLI processes, each a few seconds on a loaded two-core CI machine: past the default 30 s once.
  it('a repeat exits 0 and changes nothing; enable, set-roles and unlock are refused (exit 2); the email stays taken', {
    timeout: 90_000,
  }, async () => {
    const account = await registerOk(gw);
    expect((await user('delete', account.id)).code).toBe(0);
    const again = await user('delete', account.email);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/^note: the account was already deleted/);
    expect(JSON.parse(again.out)).toMatchObject({ id: account.id, is_deleted: true });
    expect(await deletedEvents(account.id)).toHaveLength(1);

    for (const args of [['enable'], ['set-roles', '--roles', 'admin'], ['unlock']]) {
      const [action, ...rest] = args as [string, ...string[]];
      const r = await user(action, account.email, ...rest);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(
        new RegExp(
          `^portcullis user ${action}: validation_failed: user: the account is deleted; [^\\n]*\\n$`,
        ),
      );
      expect(r.out).toBe('');
    }
    const shown = await user('show', account.id);
    expect(JSON.parse(shown.out) as Shown).toMatchObject({ roles: ['user'], is_deleted: true });
    expectFailure(await loginFrom(gw, account.email, PASSWORD), 401, 'invalid_credentials');
    const taken = await send(gw, 'POST', '/api/auth/register', { json: newUser({ email: account.email }) });
    expectFailure(taken, 409, 'email_taken');
  });

  it('the admin API DELETE does the same on this store', async () => {
    const account = await registerOk(gw);
    const s = await loginOk(gw, account.email);
    const res = await adminCall('DELETE', `/api/users/${account.id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body!.data!.user).toMatchObject({ id: account.id, is_deleted: true });
    expectFailure(await me(s.access), 401, 'token_revoked');
    expectFailure(await loginFrom(gw, account.email, PASSWORD), 401, 'invalid_credentials');
    expect((await adminCall('DELETE', `/api/users/${account.id}`)).status).toBe(200);
    expectFailure(await adminCall('POST', `/api/users/${account.id}/enable`), 400, 'validation_failed');
    expect(await deletedEvents(account.id)).toEqual([expect.objectContaining({ actor: 'admin' })]);
  });
});

describe('portcullis user delete: arguments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-cli-delete-args-'));
  const file = join(dir, 'gateway.yaml');
  const cli = (...args: string[]): Promise<Result> => runCli('user', ...args, '--config', file);
  beforeAll(() => writeFileSync(file, childBaseYaml(dir, 'warn')));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** One line naming the problem, then the usage; exit 2, no stack, nothing on stdout. */
  function expectUsageError(r: Result, message: string): void {
    expect(r.code, r.err).toBe(2);
    const [first, ...rest] = r.err.split('\n');
    expect(first).toBe(`portcullis user delete: ${message}`);
    expect(rest.join('\n')).toMatch(/^usage: portcullis user /m);
    expect(r.err).not.toMatch(/^\s+at /m);
    expect(r.out).toBe('');
  }

  it.each([
    [[], 'USER is required'],
    [['a@example.com', 'b@example.com'], 'unexpected argument b@example.com'],
    [['a@example.com', '--roles', 'admin'], '--roles does not apply to user delete'],
    [['a@example.com', '--none'], '--none does not apply to user delete'],
    [['a@example.com', '--force'], 'unknown option --force'],
  ])('user delete %j exits 2: %s', async (args, message) => {
    expectUsageError(await cli('delete', ...args), message);
  });

  it('an unknown user exits 1 in one line; --help names the action', async () => {
    const r = await cli('delete', 'nobody@example.com');
    expect(r.code).toBe(1);
    expect(r.err).toBe('portcullis user delete: user_not_found: User not found\n');
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('delete');
  });
});
