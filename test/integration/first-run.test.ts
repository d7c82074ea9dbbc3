// The first run: the built CLI started in an empty folder holding only a copy of gateway.yaml.example,
// with no secrets in the environment. The echo route answers, secrets are generated once and reused.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ChildGateway, expectEnvelope, http, ROOT, startChildGateway } from './helpers.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-first-run-'));
let gw: ChildGateway | undefined;

afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('first run', () => {
  it('starts from the example with no environment, generates secrets once and reuses them', async () => {
    // `start` with no --config reads ./gateway.yaml: a copy of the example, so ./data lands here.
    copyFileSync(join(ROOT, 'gateway.yaml.example'), join(dir, 'gateway.yaml'));
    const env = {
      PORT: String(await freePort()),
      ADMIN_PORT: String(await freePort()),
      ECHO_PORT: String(await freePort()),
    };
    gw = await startChildGateway({ cwd: dir, args: ['start'], env });
    expect(gw.port).toBe(Number(env.PORT));

    const res = await http(`http://127.0.0.1:${env.PORT}/public/echo/hello?x=1`);
    expect(res.status).toBe(200);
    const { echo } = JSON.parse(res.body.toString()) as {
      echo: { method: string; url: string; headers: Record<string, string> };
    };
    expect(echo.method).toBe('GET');
    expect(echo.url).toBe('/hello?x=1');
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echo.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await http(`http://127.0.0.1:${env.PORT}/api/echo/hi`)).status).toBe(200);

    const secretsFile = join(dir, 'data', 'generated-secrets.json');
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>;
    expect(Object.keys(secrets).sort()).toEqual(['ADMIN_TOKEN', 'SECRET_KEY']);
    expect(secrets.SECRET_KEY!.length).toBeGreaterThanOrEqual(32);
    expect(existsSync(join(dir, 'data', 'portcullis.db'))).toBe(true);
    const warnings = gw.logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
    expect(warnings.filter((w) => w.includes('generated-secrets.json'))).toHaveLength(2);
    // The generated secrets are never logged.
    expect(JSON.stringify(gw.logs)).not.toContain(secrets.SECRET_KEY);
    expect(JSON.stringify(gw.logs)).not.toContain(secrets.ADMIN_TOKEN);

    const admin = `http://127.0.0.1:${env.ADMIN_PORT}`;
    expect((await http(`${admin}/healthz`)).status).toBe(200);
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    expectEnvelope(await http(`${admin}/api/users`, bearer('x'.repeat(40))), 401, 'invalid_token');
    expect((await http(`${admin}/api/users`, bearer(secrets.ADMIN_TOKEN!))).status).not.toBe(401);

    expect(await gw.stop()).toBe(0);
    gw = await startChildGateway({ cwd: dir, args: ['start'], env });
    expect(JSON.parse(readFileSync(secretsFile, 'utf8'))).toEqual(secrets);
    expect((await http(`http://127.0.0.1:${env.PORT}/public/echo/again`)).status).toBe(200);
    expect((await http(`${admin}/api/users`, bearer(secrets.ADMIN_TOKEN!))).status).not.toBe(401);
  });
});
