// An operator's change (admin API, `portcullis user`) waits for its audit event: the answer leaves once
// the event is written, and a change whose event cannot be written says so (500 audit_unwritten, exit 1)
// instead of a success nobody can find in the log. Real SQLite files and a real PostgreSQL database whose
// audit lock another session holds, as in the review's reproduction.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPem } from '../../../gateway/auth/keys.js';
import { CLI_ACTOR } from '../../../gateway/operations.js';
import { AUDIT_LOCK, LOCK_NAMESPACE } from '../../../gateway/users/postgres-rows.js';
import { postgresExec } from '../../../gateway/users/postgres-store.js';
import { createTestDatabase } from '../../gateway/users/postgres-harness.js';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../../support/gateway.js';
import { db, expectFailure, registerAndLogin } from '../accounts/support.js';
import { FAST_ARGON2, operations, registerOk } from '../enforcement/support.js';
import { childBaseYaml, runCli, startChildGateway } from '../helpers.js';
import { type AdminFixture, admin, startAdminFixture } from './support.js';

let fx: AdminFixture;
let cliConfig: string;

beforeAll(async () => {
  fx = await startAdminFixture();
  cliConfig = join(fx.gw.dir, 'cli.yaml');
  writeFileSync(cliConfig, childBaseYaml(fx.gw.dir, 'warn'));
});
afterAll(() => fx.close());

const eventsOf = (id: string, type: string) =>
  db(fx.gw, 'SELECT id, details FROM audit_events WHERE user_id = ? AND type = ?', id, type);

/** A trigger refusing every event of `type`, as a constraint added by hand (or a full disk) would. */
function refuse(type: string): () => void {
  db(
    fx.gw,
    `CREATE TRIGGER refuse_${type} BEFORE INSERT ON audit_events WHEN NEW.type = '${type}'
     BEGIN SELECT RAISE(ABORT, 'refused by test'); END`,
  );
  return () => db(fx.gw, `DROP TRIGGER refuse_${type}`);
}

describe('security: operator changes wait for their audit event', () => {
  it('PUT roles whose event the store refuses answers 500 audit_unwritten; the change stands', async () => {
    const { id } = await registerAndLogin(fx.gw);
    const allow = refuse('admin_set_roles');
    try {
      const reply = await admin(fx.gw, 'PUT', `/api/users/${id}/roles`, { json: { roles: ['admin'] } });
      expectFailure(reply, 500, 'audit_unwritten');
      expect(reply.body?.message).toMatch(/change was made/);
    } finally {
      allow();
    }
    expect(eventsOf(id, 'admin_set_roles')).toEqual([]);
    expect(db(fx.gw, 'SELECT roles FROM users WHERE id = ?', id)).toEqual([{ roles: '["admin"]' }]);
  }, 20_000);

  it('portcullis user set-roles exits 1 when its event is dropped, saying the change was made', async () => {
    const { id } = await registerAndLogin(fx.gw);
    const allow = refuse('admin_set_roles');
    let r: Awaited<ReturnType<typeof runCli>>;
    try {
      r = await runCli('user', 'set-roles', id, '--roles', 'admin', '--config', cliConfig);
    } finally {
      allow();
    }
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain('portcullis user set-roles: audit_unwritten: The change was made');
    expect(eventsOf(id, 'admin_set_roles')).toEqual([]);
  }, 30_000);
});

describe('what operator events record', () => {
  it('admin_create_user records the roles granted at creation (the default ones too)', async () => {
    const ops = operations(fx.gw);
    const input = { password: 'violet-harbour-kettle-93', first_name: 'Ada', last_name: 'Lovelace' };
    const admin = await ops.createUser(
      { ...input, email: 'boss@example.com', roles: ['admin', 'ops'] },
      CLI_ACTOR,
    );
    const plain = await ops.createUser({ ...input, email: 'plain@example.com' }, CLI_ACTOR);
    const details = (id: string) =>
      eventsOf(id, 'admin_create_user').map((e) => JSON.parse(String(e.details)));
    expect(details(admin.id)).toEqual([{ roles: ['admin', 'ops'] }]);
    expect(details(plain.id)).toEqual([{ roles: ['user'] }]);
  });
});

describe('the address operator events record', () => {
  const ipsOf = (id: string | null, type: string) =>
    (id === null
      ? db(fx.gw, 'SELECT actor, ip FROM audit_events WHERE type = ? ORDER BY id DESC LIMIT 1', type)
      : db(fx.gw, 'SELECT actor, ip FROM audit_events WHERE user_id = ? AND type = ?', id, type)
    ).map((e) => [e.actor, e.ip]);

  it('every change made through the admin API records the caller (the peer) as ip', async () => {
    const { id } = await registerAndLogin(fx.gw);
    const ok = async (method: string, path: string, json?: unknown) => {
      const reply = await admin(fx.gw, method, path, json === undefined ? {} : { json });
      expect(reply.status, reply.text).toBe(200);
      return reply.body?.data as Record<string, unknown>;
    };
    const [session] = (await ok('GET', `/api/users/${id}/sessions`)).sessions as Array<{ sid: string }>;
    await ok('DELETE', `/api/users/${id}/sessions/${session!.sid}`);
    await ok('DELETE', `/api/users/${id}/sessions`);
    await ok('PUT', `/api/users/${id}/roles`, { roles: ['ops'] });
    await ok('POST', `/api/users/${id}/unlock`);
    await ok('POST', `/api/users/${id}/disable`);
    await ok('POST', `/api/users/${id}/enable`);
    await ok('DELETE', `/api/users/${id}`);
    await ok('POST', '/api/reload');
    const admin127 = ['admin', '127.0.0.1'];
    expect(ipsOf(id, 'session_revoked')).toEqual([admin127, admin127]);
    for (const type of ['admin_set_roles', 'unlock', 'admin_disable', 'admin_enable', 'user_deleted']) {
      expect(ipsOf(id, type), type).toEqual([admin127]);
    }
    expect(ipsOf(null, 'admin_reload')).toEqual([admin127]);
  });

  it('the command line has no caller address: its events keep ip null', async () => {
    const { id } = await registerAndLogin(fx.gw);
    const r = await runCli('user', 'disable', id, '--config', cliConfig);
    expect(r.code, r.err).toBe(0);
    expect(ipsOf(id, 'admin_disable')).toEqual([['cli', null]]);
  }, 30_000);
});

describe('security: on PostgreSQL, PUT roles waits while the audit chain lock is held', () => {
  it('answers 200 only after the lock is released, with its event written', async () => {
    const database = await createTestDatabase();
    const dir = mkdtempSync(join(tmpdir(), 'pc-audit-written-'));
    const key = join(dir, 'assertion.pem');
    writeFileSync(key, generateKeyPem('EdDSA'), { mode: 0o600 });
    const gw = await startChildGateway({
      cwd: dir,
      yaml: `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
storage: { users: "${database.url}", state: memory }
identity_headers: { assertion_key_file: "${key}" }
tokens: { secret: "${TEST_SECRET}" }
logging: { level: info }
${FAST_ARGON2}`,
    });
    const holder = new pg.Client({ connectionString: database.url });
    try {
      const { id } = await registerOk(gw);
      await holder.connect();
      await holder.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, AUDIT_LOCK]);
      const started = performance.now();
      const answer = fetch(`http://127.0.0.1:${gw.adminPort}/api/users/${id}/roles`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ roles: ['admin'] }),
      }).then((r) => ({ status: r.status, at: performance.now() }));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const releasedAt = performance.now();
      await holder.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, AUDIT_LOCK]);
      const { status, at } = await answer;
      expect(status).toBe(200);
      expect(at).toBeGreaterThanOrEqual(releasedAt);
      expect(at - started).toBeGreaterThanOrEqual(1_400);
      const events = await postgresExec(
        database.url,
        "SELECT details FROM audit_events WHERE user_id = $1 AND type = 'admin_set_roles'",
        id,
      );
      expect(events.map((e) => JSON.parse(String(e.details)))).toEqual([{ roles: ['admin'] }]);
    } finally {
      await holder.end();
      await gw.stop();
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
