// Config reload: SIGHUP on the built gateway as a child process (a new route starts working; an
// invalid file keeps the old routes and the log says why), and the in-process snapshot rule.
import { writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import {
  type ChildGateway,
  childBaseYaml,
  expectEnvelope,
  http,
  startChildGateway,
  waitFor,
} from './helpers.js';

let up: RecordingUpstream;
let gw: ChildGateway;

const routes = (origin: string, extra = '') => `
routes:
  - { name: first, path: /first, upstream: "${origin}", auth: public }
${extra}`;

beforeAll(async () => {
  up = await startRecordingUpstream();
  gw = await startChildGateway({ yaml: (dir) => childBaseYaml(dir) + routes(up.origin) });
});

afterAll(async () => {
  await gw?.stop();
  await up?.close();
});

function reloads(): Array<Record<string, unknown>> {
  return gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload'));
}

describe('SIGHUP', () => {
  it('adds a route without a restart', async () => {
    expectEnvelope(await http(`${gw.url}/second/x`), 404, 'route_not_found');
    writeFileSync(
      gw.configFile,
      childBaseYaml(gw.dir) +
        routes(up.origin, `  - { name: second, path: /second, upstream: "${up.origin}", auth: public }`),
    );
    gw.child.kill('SIGHUP');
    await gw.waitForLog((l) => l.msg === 'config reloaded');
    expect((await http(`${gw.url}/second/x`)).status).toBe(200);
    expect((await http(`${gw.url}/first/x`)).status).toBe(200);
  });

  it.each([
    [
      'a schema error',
      (o: string) => routes(o, '  - { name: bad, path: /bad, upstream: "ftp://nowhere" }'),
      /routes\[1\]\.upstream/,
    ],
    ['broken YAML', () => 'routes: [ {', /line|YAML|yaml/],
  ])('keeps the current routes after %s, and logs why', async (_what, text, reason) => {
    const before = reloads().length;
    writeFileSync(gw.configFile, childBaseYaml(gw.dir) + text(up.origin));
    gw.child.kill('SIGHUP');
    await waitFor(() => reloads().length > before, 5_000, 'a reload log line');
    const line = reloads().at(-1)!;
    expect(line.msg).toBe('config reload failed: keeping the current config');
    expect(line.level).toBe('error');
    expect(String(line.err)).toMatch(reason);
    expect((await http(`${gw.url}/first/x`)).status).toBe(200);
    expect((await http(`${gw.url}/second/x`)).status).toBe(200);
    expect(gw.child.exitCode).toBeNull();
  });
});

describe('restart-only keys and admin.token (POST /api/reload, one process)', () => {
  const OLD_TOKEN = 'admin-token-for-tests-0123456789abcdef';
  const NEW_TOKEN = 'rotated-admin-token-0123456789abcdefghij';
  const admin = (token: string, method = 'GET', path = '/api/routes') =>
    http(`http://127.0.0.1:${gw.adminPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });

  it('reports the changed restart-only keys by path, and applies a new admin.token at once', async () => {
    const changed = childBaseYaml(gw.dir)
      .replace('port: 0,', `port: ${gw.port},`)
      .replace('shutdown_timeout: 10s', 'shutdown_timeout: 20s')
      .replace(OLD_TOKEN, NEW_TOKEN);
    writeFileSync(gw.configFile, changed + routes(up.origin));
    const res = await admin(OLD_TOKEN, 'POST', '/api/reload');
    expect(res.status).toBe(200);
    const data = (JSON.parse(res.body.toString()) as { data: Record<string, unknown> }).data;
    expect(data).toMatchObject({
      workers: 1,
      restart_required: ['server.port', 'server.shutdown_timeout'],
      admin_token_changed: true,
    });
    expectEnvelope(await admin(OLD_TOKEN), 401, 'invalid_token');
    expect((await admin(NEW_TOKEN)).status).toBe(200);
    const warning = await gw.waitForLog((l) => Array.isArray(l.restart_required));
    expect(warning.level).toBe('warn');
    expect(warning.restart_required).toEqual(['server.port', 'server.shutdown_timeout']);
    expect(gw.logs.some((l) => String(l.msg).startsWith('config reload: admin.token changed'))).toBe(true);
    // The listener did not move: a restart-only key keeps its start value until the restart.
    expect((await http(`${gw.url}/first/x`)).status).toBe(200);
    expect(JSON.stringify(gw.logs)).not.toContain(NEW_TOKEN);
    expect(JSON.stringify(gw.logs)).not.toContain(OLD_TOKEN);
  });

  it('SIGHUP reports them again while they differ from what the process started with', async () => {
    const warnings = () => gw.logs.filter((l) => Array.isArray(l.restart_required));
    const before = warnings().length;
    gw.child.kill('SIGHUP');
    await waitFor(() => warnings().length > before, 5_000, 'the restart warning');
    expect(warnings().at(-1)?.restart_required).toEqual(['server.port', 'server.shutdown_timeout']);
  });
});

describe('in-process reload', () => {
  it('a request in flight finishes on the routes it started with', async () => {
    let hold: ServerResponse | null = null;
    const slow = await startRecordingUpstream((req, res) => {
      if (!req.url!.startsWith('/old/hold')) return false;
      req.resume();
      hold = res;
      return true;
    });
    const oldRoutes = `routes:\n  - { name: old, path: /old, upstream: "${slow.origin}", auth: public }\n`;
    const local = await startTestGateway(oldRoutes);
    try {
      const inFlight = http(`${local.url}/old/hold`);
      await waitFor(() => hold !== null, 5_000, 'the upstream to hold the request');
      // The new config no longer uses the old origin: its pool is closed, gracefully.
      local.setYaml(`routes:\n  - { name: new, path: /new, upstream: "${up.origin}", auth: public }\n`);
      const result = await local.reload();
      expect(result.ok).toBe(true);
      expectEnvelope(await http(`${local.url}/old/x`), 404, 'route_not_found');
      expect((await http(`${local.url}/new/x`)).status).toBe(200);
      (hold as ServerResponse | null)?.end('old route, old pool');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('old route, old pool');
    } finally {
      await local.stop();
      await slow.close();
    }
  });
});
