// Crash durability of registration: the built gateway runs as a child process, is killed with SIGKILL
// the moment it has answered 201, and a new process on the same SQLite file lets the user log in.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN, TEST_SECRET } from '../../support/gateway.js';
import { login, newUser, OPEN_LIMITS, register, type Target } from './support.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'dist', 'gateway', 'cli.js');

interface Child {
  readonly process: ChildProcess;
  readonly gw: Target;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function startChild(config: string): Promise<Child> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', config], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((done, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`gateway did not start:\n${out}\n${err}`)), 20_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"port":(\d+),"adminPort":\d+.*"msg":"gateway listening"/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        const port = Number(m[1]);
        done({ process: child, gw: { url: `http://127.0.0.1:${port}`, port } });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`gateway exited (${code ?? signal}) before listening:\n${out}\n${err}`));
    });
  });
}

function killed(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done(child.signalCode);
    else child.once('exit', (_code, signal) => done(signal));
  });
}

it('a user whose registration was answered 201 can log in after a SIGKILL and a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-durability-'));
  try {
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, token: ${TEST_ADMIN_TOKEN} }
storage: { users: "sqlite:./data/users.db", state: memory }
tokens: { secret: "${TEST_SECRET}" }
logging: { level: debug }
passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }
${OPEN_LIMITS}
`,
    );
    const first = await startChild(config);
    const users = [newUser(), newUser()];
    expect((await register(first.gw, users[0]!)).status).toBe(201);
    const last = await register(first.gw, users[1]!);
    // Killed the instant the answer is in: no graceful shutdown, no checkpoint, no flush.
    first.process.kill('SIGKILL');
    expect(last.status).toBe(201);
    expect(await killed(first.process)).toBe('SIGKILL');

    const second = await startChild(config);
    for (const u of users) {
      const res = await login(second.gw, u.email, u.password);
      expect(res.status, res.text).toBe(200);
    }
    // Control: an address never registered still fails, so the logins above prove the rows survived.
    expect((await login(second.gw, `never-${users[0]!.email}`, users[0]!.password)).status).toBe(401);
    second.process.kill('SIGTERM');
    await killed(second.process);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
