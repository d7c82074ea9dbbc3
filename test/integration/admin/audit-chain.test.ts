// Every admin action leaves an audit event naming it (actor "admin"), and the chain is tamper-evident:
// one row changed in SQLite and `portcullis audit verify` (the built CLI) names it and exits 1.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { db, loginOk, OPEN_LIMITS, OTHER_UA, registerAndLogin } from '../accounts/support.js';
import { CLI, childBaseYaml } from '../helpers.js';
import { type AdminFixture, adminOk, startAdminFixture } from './support.js';

let fx: AdminFixture;
let configFile: string;

/** `portcullis audit verify` on the fixture's database, as an operator runs it. */
function verify(): { code: number | null; out: string } {
  const run = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--config', configFile], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
    timeout: 20_000,
  });
  return { code: run.status, out: `${run.stdout}${run.stderr}` };
}

beforeAll(async () => {
  fx = await startAdminFixture({ yaml: 'sessions: { max_active: 3 }' });
  configFile = join(fx.gw.dir, 'cli.yaml');
  writeFileSync(configFile, childBaseYaml(fx.gw.dir, 'warn'));
});
afterAll(() => fx.close());

describe('admin actions in the audit log', () => {
  it('each action writes one event naming it, with the admin as actor', async () => {
    const { id, user } = await registerAndLogin(fx.gw);
    await loginOk(fx.gw, user.email, user.password, OTHER_UA);
    const sessions = (await adminOk(fx.gw, 'GET', `/api/users/${id}/sessions`)).sessions as Array<{
      sid: string;
    }>;
    const base = `/api/users/${id}`;
    await adminOk(fx.gw, 'PUT', `${base}/roles`, { json: { roles: ['user', 'ops'] } });
    await adminOk(fx.gw, 'POST', `${base}/unlock`);
    await adminOk(fx.gw, 'DELETE', `${base}/sessions/${sessions[0]!.sid}`);
    await adminOk(fx.gw, 'DELETE', `${base}/sessions`);
    await adminOk(fx.gw, 'POST', `${base}/disable`);
    await adminOk(fx.gw, 'POST', `${base}/enable`);
    fx.gw.setYaml(OPEN_LIMITS);
    await adminOk(fx.gw, 'POST', '/api/reload');
    // Reads change nothing and write nothing.
    for (const path of [base, `${base}/sessions`, '/api/users', '/api/audit', '/api/routes', '/api/stats']) {
      await adminOk(fx.gw, 'GET', path);
    }
    await fx.gw.services.audit.flush();
    const events = db(
      fx.gw,
      "SELECT type, user_id, actor, details FROM audit_events WHERE actor = 'admin' ORDER BY id",
    );
    expect(events.map((e) => [e.type, e.user_id])).toEqual([
      ['admin_set_roles', id],
      ['unlock', id],
      ['session_revoked', id],
      ['session_revoked', id],
      ['admin_disable', id],
      ['admin_enable', id],
      ['admin_reload', null],
    ]);
    expect(JSON.parse(String(events[2]!.details))).toEqual({ sessions: [sessions[0]!.sid] });
    expect(JSON.parse(String(events[3]!.details)).sessions).toHaveLength(1);
  });
});

describe('tamper evidence', () => {
  it('audit verify passes on the untouched chain and names the one row changed in SQLite', async () => {
    await fx.gw.services.audit.flush();
    const intact = verify();
    expect(intact, intact.out).toMatchObject({ code: 0 });
    expect(intact.out).toContain('audit chain intact');

    const [row] = db(fx.gw, "SELECT id, details FROM audit_events WHERE type = 'admin_set_roles'");
    const target = Number(row!.id);
    // An insider hides a privilege grant: the recorded roles are rewritten.
    db(fx.gw, 'UPDATE audit_events SET details = ? WHERE id = ?', '{"roles":["user"]}', target);
    const broken = verify();
    expect(broken.code).toBe(1);
    expect(broken.out).toContain(`audit chain broken at event ${target}`);
    // The API still serves the log; the operator sees the rewritten row.
    const events = (await adminOk(fx.gw, 'GET', '/api/audit?type=admin_set_roles')).events as Array<{
      id: number;
      details: unknown;
    }>;
    expect(events.find((e) => e.id === target)?.details).toEqual({ roles: ['user'] });
    // Put back, the chain verifies again.
    db(fx.gw, 'UPDATE audit_events SET details = ? WHERE id = ?', row!.details, target);
    expect(verify()).toMatchObject({ code: 0 });
  });

  it('audit verify names a deleted event as missing, not the event after it', async () => {
    await fx.gw.services.audit.flush();
    const [row] = db(fx.gw, "SELECT id FROM audit_events WHERE type = 'unlock'");
    const target = Number(row!.id);
    // An insider removes the record of an unlock.
    db(fx.gw, 'DELETE FROM audit_events WHERE id = ?', target);
    const broken = verify();
    expect(broken.code).toBe(1);
    expect(broken.out).toContain(
      `audit chain broken: event ${target} is missing (the chain breaks before event ${target + 1})`,
    );
  });
});
