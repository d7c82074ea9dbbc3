// deploy/gateway.yaml really runs: two gateway replicas from it, with the compose host names pointed at a
// real PostgreSQL (fresh database), a real redis-server and a recording upstream, share users and tokens.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../config/index.js';
import { runKeygen } from '../../gateway/auth/keygen.js';
import { type GatewayHandle, startGateway } from '../../gateway/gateway.js';
import { createLogger } from '../../gateway/logger.js';
import { postgresExec } from '../../gateway/users/postgres-store.js';
import { createTestDatabase, type TestDatabase } from '../gateway/users/postgres-harness.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';
import { DEPLOY } from './manifests.js';

const ENV = {
  SECRET_KEY: 's'.repeat(64),
  ADMIN_TOKEN: 'ad1f0c3e'.repeat(8),
  POSTGRES_PASSWORD: 'unused-under-trust',
};
const J = { 'content-type': 'application/json' };
const PASSWORD = 'correct horse battery staple';

/** Replaces each compose-network address with a local one; fails if the example no longer says it. */
function localise(text: string, swaps: readonly [string, string][]): string {
  let out = text;
  for (const [from, to] of swaps) {
    expect(out, from).toContain(from);
    out = out.replaceAll(from, to);
  }
  return out;
}

describe('deploy/gateway.yaml, run as two replicas on shared PostgreSQL and Redis', () => {
  let db: TestDatabase;
  let redis: RedisServer;
  let upstream: RecordingUpstream;
  let dir: string;
  const replicas: GatewayHandle[] = [];

  beforeAll(async () => {
    [db, redis, upstream] = await Promise.all([createTestDatabase(), startRedis(), startRecordingUpstream()]);
    dir = mkdtempSync(join(tmpdir(), 'portcullis-deploy-'));
    const key = join(dir, 'assertion-key.pem');
    expect(
      runKeygen(['--algorithm', 'EdDSA', '--out', key], {
        stdout: { write: () => true },
        stderr: process.stderr,
      }),
    ).toBe(0);
    const text = localise(readFileSync(join(DEPLOY, 'gateway.yaml'), 'utf8'), [
      ['port: 8080', 'port: 0'],
      ['port: 9090', 'port: 0'],
      ['host: 0.0.0.0', 'host: 127.0.0.1'],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${VAR} syntax, matched literally
      ['postgres://portcullis:${POSTGRES_PASSWORD}@postgres:5432/portcullis', db.url],
      ['redis://redis:6379/0', redis.url],
      ['http://echo:8081', upstream.origin],
      ['/var/lib/portcullis/assertion-key.pem', key],
    ]);
    const config = loadConfigText(text, { file: null, dir, env: ENV }).config;
    const log = createLogger({ level: 'silent', format: 'json' });
    for (let i = 0; i < 2; i++) replicas.push(await startGateway({ config, log }));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.shutdown()));
    await Promise.all([redis?.stop(), upstream?.close(), db?.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers on one replica, logs in on the other, and is forwarded with its identity by either', async () => {
    const [a, b] = replicas as [GatewayHandle, GatewayHandle];
    const body = {
      email: 'alice@example.com',
      password: PASSWORD,
      password_confirm: PASSWORD,
      first_name: 'Alice',
      last_name: 'Liddell',
    };
    const registered = await fetch(`${a.url}/api/auth/register`, {
      method: 'POST',
      headers: J,
      body: JSON.stringify(body),
    });
    expect(registered.status).toBe(201);
    const again = await fetch(`${b.url}/api/auth/register`, {
      method: 'POST',
      headers: J,
      body: JSON.stringify({ ...body, email: 'ALICE@example.com' }),
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('email_taken');

    const login = await fetch(`${b.url}/api/auth/login`, {
      method: 'POST',
      headers: J,
      body: JSON.stringify({ email: body.email, password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    const { data } = (await login.json()) as { data: { access: string } };
    const [row] = await postgresExec(
      db.url,
      'SELECT id FROM users WHERE email_canonical = $1',
      'alice@example.com',
    );

    for (const replica of [a, b]) {
      const res = await fetch(`${replica.url}/orders/7`, {
        headers: { authorization: `Bearer ${data.access}` },
      });
      expect(res.status).toBe(200);
      const seen = upstream.requests.at(-1);
      expect(seen?.headers['x-user-id']).toBe(row?.id);
      expect(seen?.headers['x-auth-assertion']).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    }
    expect((await fetch(`${a.url}/orders/7`)).status).toBe(401);
    expect((await fetch(`${b.url}/public/x`)).status).toBe(200);
  });

  it('answers the probes the compose healthcheck and the Kubernetes manifests use', async () => {
    for (const replica of replicas) {
      expect((await fetch(`${replica.adminUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${replica.adminUrl}/readyz`)).status).toBe(200);
    }
  });
});
