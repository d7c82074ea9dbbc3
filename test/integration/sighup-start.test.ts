// SIGHUP while the built CLI is still starting: the process must neither die (SIGHUP's default action) nor
// lose the reload. Single process and cluster worker share the start path; the primary is covered by workers tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, childBaseYaml, http, sleep } from './helpers.js';

let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  child = undefined;
  dir = undefined;
});

interface Started {
  readonly proc: ChildProcess;
  readonly logs: Array<Record<string, unknown>>;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** The first log line with this message; throws once the process has exited or the deadline passed. */
  seen(msg: string): Promise<Record<string, unknown>>;
}

const deadlineMs = 15_000;

function spawnGateway(configFile: string, nodeArgs: readonly string[] = []): Started {
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let partial = '';
  const proc = spawn(process.execPath, [...nodeArgs, CLI, 'start', '--config', configFile], {
    cwd: dirname(configFile),
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  proc.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  proc.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  const deadline = Date.now() + deadlineMs;
  return {
    proc,
    logs,
    exited: () => exit,
    async seen(msg) {
      while (Date.now() < deadline) {
        const found = logs.find((l) => l.msg === msg);
        if (found !== undefined) return found;
        if (exit !== null) throw new Error(`gateway exited ${JSON.stringify(exit)}; stderr: ${stderr}`);
        await sleep(20);
      }
      throw new Error(`no "${msg}" log line; logs: ${JSON.stringify(logs)} stderr: ${stderr}`);
    },
  };
}

async function waitFor(done: () => boolean, g: Started): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!done() && g.exited() === null && Date.now() < deadline) await sleep(2);
}

describe('SIGHUP during start-up', () => {
  it('is held until the gateway serves, then runs one reload', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-hup-start-'));
    const configFile = join(dir, 'gateway.yaml');
    // The generated-secrets file is written while `start` loads the config, before the stores and
    // listeners open: seeing it means the process is past loading its code and still starting.
    const yaml = childBaseYaml(dir).replace(
      'admin-token-for-tests-0123456789abcdef',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: config syntax
      '"${HUP_TEST_ADMIN_TOKEN:-@generate}"',
    );
    writeFileSync(configFile, yaml);
    const marker = join(dir, 'data', 'generated-secrets.json');
    const g = spawnGateway(configFile);

    await waitFor(() => existsSync(marker), g);
    expect(existsSync(marker)).toBe(true);
    expect(g.logs.some((l) => l.msg === 'gateway listening')).toBe(false);
    g.proc.kill('SIGHUP');

    const listening = await g.seen('gateway listening');
    await g.seen('SIGHUP received during start-up: reloading now');
    await g.seen('config reloaded');
    expect(g.exited()).toBeNull();

    const res = await http(`http://127.0.0.1:${Number(listening.adminPort)}/healthz`);
    expect(res.status).toBe(200);
    // Once serving, SIGHUP reloads as before.
    g.proc.kill('SIGHUP');
    await waitFor(() => g.logs.filter((l) => l.msg === 'config reloaded').length >= 2, g);
    expect(g.logs.filter((l) => l.msg === 'config reloaded')).toHaveLength(2);

    g.proc.kill('SIGTERM');
    await waitFor(() => false, g);
    expect(g.exited()).toEqual({ code: 0, signal: null });
  }, 30_000);

  it('is held while the program is still loading its modules (it ended the process with 129)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-hup-load-'));
    const configFile = join(dir, 'gateway.yaml');
    writeFileSync(configFile, childBaseYaml(dir));
    // A module-loading hook holds the resolution of one of the command's imports for 1.5 s and says
    // when it starts holding: the signal then lands while the program's modules are being loaded.
    const loading = join(dir, 'loading');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { writeFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.endsWith('/config/check.js')) {
    writeFileSync(${JSON.stringify(loading)}, '');
    await new Promise((r) => setTimeout(r, 1500));
  }
  return next(specifier, context);
}\n`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
    );
    const g = spawnGateway(configFile, ['--import', join(dir, 'register.mjs')]);

    await waitFor(() => existsSync(loading), g);
    expect(existsSync(loading)).toBe(true);
    g.proc.kill('SIGHUP');
    await g.seen('gateway listening');
    await g.seen('SIGHUP received during start-up: reloading now');
    await g.seen('config reloaded');
    g.proc.kill('SIGTERM');
    await waitFor(() => false, g);
    expect(g.exited()).toEqual({ code: 0, signal: null });
  }, 30_000);
});
