import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPem } from '../../../gateway/auth/keys.js';
import { createTestDatabase, type TestDatabase } from '../../gateway/users/postgres-harness.js';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../../support/gateway.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../../support/upstreams.js';
import { type ChildGateway, runCli, startReplicas } from '../helpers.js';
import {
  expectFailure,
  FAST_ARGON2,
  intHeader,
  limitsYaml,
  loginFrom,
  loginOk,
  PASSWORD,
  registerOk,
  routesYaml,
  send,
  WRONG,
} from './support.js';

let redis: RedisServer;
let upstream: RecordingUpstream;
let dir: string;
let configFile: string;
let a: ChildGateway;
let b: ChildGateway;
let pg: TestDatabase | null = null;

/** The user store both replicas share: one SQLite file, or a fresh PostgreSQL database (the multi-host case). */
async function usersYaml(kind: 'sqlite' | 'postgres'): Promise<string> {
  if (kind === 'sqlite')
    return `storage: { users: "sqlite:${join(dir, 'users.db')}", state: "${redis.url}" }`;
  pg = await createTestDatabase();
  const key = join(dir, 'assertion.pem');
  writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
  return `storage: { users: "${pg.url}", state: "${redis.url}" }
identity_headers: { assertion_key_file: "${key}" }`;
}

async function startAll(kind: 'sqlite' | 'postgres'): Promise<void> {
  [redis, upstream] = await Promise.all([startRedis(), startRecordingUpstream()]);
  dir = mkdtempSync(join(tmpdir(), 'pc-replicas-'));
  const yaml = `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
${await usersYaml(kind)}
tokens: { secret: "${TEST_SECRET}" }
logging: { level: info }
${FAST_ARGON2}
${limitsYaml({ anonymous: '10/m' })}
brute_force: { failure_limit: 3 }
${routesYaml(upstream.origin)}`;
  configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, yaml);
  [a, b] = await startReplicas(dir, yaml);
}

async function stopReplicas(): Promise<void> {
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([redis?.stop(), upstream?.close(), pg?.drop()]);
  pg = null;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/** `portcullis user …` as an operator runs it: a separate process on the same config. */
async function portcullisUser(...args: string[]): Promise<{ code: number | null; out: string }> {
  const { code, out, err } = await runCli('user', ...args, '--config', configFile);
  return { code, out: out + err };
}

describe.each(['sqlite', 'postgres'] as const)('replicas with users in %s', (kind) => {
  beforeAll(() => startAll(kind), 60_000);
  afterAll(stopReplicas);

  describe('two gateway processes on one Redis', () => {
    it('a login on A works on B; logout on A is refused on B at once', async () => {
      const user = await registerOk(a, '127.0.0.71');
      const s = await loginOk(a, user.email, PASSWORD, { from: '127.0.0.71' });
      expect((await send(b, 'GET', '/api/orders/rep', { token: s.access })).status).toBe(200);
      expect((await send(b, 'GET', '/api/users/me', { token: s.access })).body?.data).toMatchObject({
        id: user.id,
      });
      expect((await send(a, 'POST', '/api/auth/logout', { token: s.access })).status).toBe(200);
      expectFailure(await send(b, 'GET', '/api/orders/rep', { token: s.access }), 401, 'token_revoked');
      const refreshed = await send(b, 'POST', '/api/auth/refresh', {
        json: { refresh: s.refresh },
        from: '127.0.0.71',
      });
      expect(refreshed.status).toBe(401);
    });

    it('a login on B replaces the session made on A (single active session across replicas)', async () => {
      const user = await registerOk(a, '127.0.0.72');
      const first = await loginOk(a, user.email, PASSWORD, { from: '127.0.0.72' });
      const second = await loginOk(b, user.email, PASSWORD, { from: '127.0.0.72' });
      expectFailure(
        await send(a, 'GET', '/api/orders/rep', { token: first.access }),
        401,
        'session_replaced',
      );
      expect((await send(a, 'GET', '/api/orders/rep', { token: second.access })).status).toBe(200);
    });

    it('the global limit is shared: anonymous 10/m, the 11th request across both is 429', async () => {
      const from = '127.0.0.73';
      for (let i = 0; i < 10; i++) {
        const reply = await send(i % 2 === 0 ? a : b, 'GET', '/public/shared', { from });
        expect(reply.status).toBe(200);
        expect(intHeader(reply, 'ratelimit-remaining')).toBe(9 - i);
      }
      expectFailure(await send(a, 'GET', '/public/shared', { from }), 429, 'rate_limited');
      expectFailure(await send(b, 'GET', '/public/shared', { from }), 429, 'rate_limited');
    });

    it('the (email, IP) lock is shared: failures split across A and B lock the pair on both', async () => {
      const user = await registerOk(a, '127.0.0.74');
      const from = '127.0.0.75';
      for (const g of [a, b, a])
        expectFailure(await loginFrom(g, user.email, WRONG, { from }), 401, 'invalid_credentials');
      expectFailure(await loginFrom(b, user.email, PASSWORD, { from }), 429, 'account_locked');
      expectFailure(await loginFrom(a, user.email, PASSWORD, { from }), 429, 'account_locked');
    });
  });

  describe('operator commands reach both processes on the very next request', () => {
    it('`portcullis user set-roles` then `disable`: applied on A and B at once', async () => {
      const user = await registerOk(a, '127.0.0.76');
      const s = await loginOk(b, user.email, PASSWORD, { from: '127.0.0.76' });
      expect((await send(b, 'GET', '/api/users/me', { token: s.access })).body?.data).toMatchObject({
        roles: ['user'],
      });
      expectFailure(await send(a, 'GET', '/api/admin/x', { token: s.access }), 403, 'forbidden');
      expectFailure(await send(b, 'GET', '/api/admin/x', { token: s.access }), 403, 'forbidden');

      const roles = await portcullisUser('set-roles', user.email, '--roles', 'user,admin');
      expect(roles.code, roles.out).toBe(0);
      expect((await send(a, 'GET', '/api/admin/x', { token: s.access })).status).toBe(200);
      expect((await send(b, 'GET', '/api/admin/x', { token: s.access })).status).toBe(200);
      // The cached profile was dropped: /me shows the new roles on the replica that cached it.
      expect((await send(b, 'GET', '/api/users/me', { token: s.access })).body?.data).toMatchObject({
        roles: ['user', 'admin'],
      });
      const seen = upstream.requests.filter((r) => r.url === '/api/admin/x');
      expect(seen.map((r) => r.headers['x-user-roles'])).toEqual(['user,admin', 'user,admin']);

      const disabled = await portcullisUser('disable', user.id);
      expect(disabled.code, disabled.out).toBe(0);
      expectFailure(await send(a, 'GET', '/api/orders/rep', { token: s.access }), 401, 'token_revoked');
      expectFailure(await send(b, 'GET', '/api/orders/rep', { token: s.access }), 401, 'token_revoked');
      expectFailure(
        await loginFrom(a, user.email, PASSWORD, { from: '127.0.0.77' }),
        401,
        'invalid_credentials',
      );

      const enabled = await portcullisUser('enable', user.email);
      expect(enabled.code, enabled.out).toBe(0);
      const again = await loginOk(b, user.email, PASSWORD, { from: '127.0.0.77' });
      expect((await send(a, 'GET', '/api/admin/x', { token: again.access })).status).toBe(200);
    });
  });
});
