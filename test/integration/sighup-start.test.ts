// SIGHUP while the built CLI is still starting: the process must neither die (SIGHUP's default action) nor
// lose the reload. Single process and cluster worker share the start path; the primary is covered by workers tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

    const logs: Array<Record<string, unknown>> = [];
    let stderr = '';
    let partial = '';
    const proc = spawn(process.execPath, [CLI, 'start', '--config', configFile], {
      cwd: dir,
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

    const deadline = Date.now() + 15_000;
    while (!existsSync(marker) && exit === null && Date.now() < deadline) await sleep(2);
    expect(existsSync(marker)).toBe(true);
    expect(logs.some((l) => l.msg === 'gateway listening')).toBe(false);
    proc.kill('SIGHUP');

    const seen = async (msg: string): Promise<Record<string, unknown>> => {
      while (Date.now() < deadline) {
        const found = logs.find((l) => l.msg === msg);
        if (found !== undefined) return found;
        if (exit !== null) throw new Error(`gateway exited ${JSON.stringify(exit)}; stderr: ${stderr}`);
        await sleep(20);
      }
      throw new Error(`no "${msg}" log line; logs: ${JSON.stringify(logs)} stderr: ${stderr}`);
    };
    const listening = await seen('gateway listening');
    await seen('SIGHUP received during start-up: reloading now');
    await seen('config reloaded');
    expect(exit).toBeNull();

    const res = await http(`http://127.0.0.1:${Number(listening.adminPort)}/healthz`);
    expect(res.status).toBe(200);
    // Once serving, SIGHUP reloads as before.
    proc.kill('SIGHUP');
    while (logs.filter((l) => l.msg === 'config reloaded').length < 2 && Date.now() < deadline)
      await sleep(20);
    expect(logs.filter((l) => l.msg === 'config reloaded')).toHaveLength(2);

    proc.kill('SIGTERM');
    while (exit === null && Date.now() < deadline) await sleep(20);
    expect(exit).toEqual({ code: 0, signal: null });
  }, 30_000);
});
