// Real redis-server processes for tests: one standalone server (killable and restartable empty on the
// same port) or a 3-master Cluster, plus redis-cli helpers. No client library: tests talk RESP via redis-cli.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Graceful shutdown (no save) and removal of the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or an OOM kill would. */
  kill(): Promise<void>;
  /** Starts the server again on the same port, empty (no persistence); kills it first if it still runs. */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs redis-cli against the server; resolves with its raw stdout. */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(port), ...args],
      { timeout: 5000 },
      (err, stdout) => (err === null ? resolve(stdout) : reject(err)),
    );
  });
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
    const pong = await redisCli(port, 'PING').catch(() => '');
    if (pong.trim() === 'PONG') return;
    await sleep(25);
  }
  throw new Error(`redis-server on ${port} did not answer PING within ${timeoutMs} ms`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function spawnServer(dir: string, port: number, extra: readonly string[] = []): ChildProcess {
  const args = [
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
  ];
  return spawn('redis-server', [...args, ...extra], { cwd: dir, stdio: 'ignore' });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-redis-'));
  const port = await freePort();
  let child = spawnServer(dir, port);
  await waitForPing(port, child, 10_000);
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited(child);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      child.kill('SIGKILL');
      await exited(child);
      child = spawnServer(dir, port);
      await waitForPing(port, child, 10_000);
    },
  };
}

export interface RedisCluster {
  readonly url: string;
  readonly ports: readonly number[];
  stop(): Promise<void>;
}

/** Three masters, no replicas; resolves once CLUSTER INFO says ok on every node. */
export async function startRedisCluster(timeoutMs: number): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-redis-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const children = ports.map((port) => {
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir);
    return spawnServer(nodeDir, port, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']);
  });
  const stop = async (): Promise<void> => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(ports.map((port, i) => waitForPing(port, children[i]!, timeoutMs)));
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...nodes, '--cluster-yes'],
        { timeout: timeoutMs },
        (err) => (err === null ? resolve() : reject(err)),
      );
    });
    for (const port of ports) {
      while (!(await redisCli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('cluster did not become ok');
        await sleep(100);
      }
    }
    return { url: `redis-cluster://${nodes.join(',')}`, ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface RedisSentinel {
  /** redis-sentinel:// URL naming the master `mymaster`. */
  readonly url: string;
  stop(): Promise<void>;
}

/** One sentinel (quorum 1) watching the given standalone server as `mymaster`. */
export async function startRedisSentinel(masterPort: number): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'pc-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${masterPort} 1\n`,
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { cwd: dir, stdio: 'ignore' });
  const stop = async (): Promise<void> => {
    child.kill('SIGKILL');
    await exited(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPing(port, child, 10_000);
    return { url: `redis-sentinel://127.0.0.1:${port}/mymaster/0`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Records every command the server executes while `action` runs (MONITOR), excluding those run by scripts. */
export async function monitorCommands(port: number, action: () => Promise<unknown>): Promise<string[]> {
  const monitor = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'MONITOR'], { stdio: 'pipe' });
  let out = '';
  monitor.stdout.setEncoding('utf8');
  const started = new Promise<void>((resolve) =>
    monitor.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('OK')) resolve();
    }),
  );
  await started;
  try {
    await action();
    await sleep(150);
  } finally {
    monitor.kill('SIGKILL');
    await exited(monitor);
  }
  return out
    .split('\n')
    .filter((line) => /^\d+\.\d+ \[\d+ [^\]]+\] "/.test(line) && !/\[\d+ lua\]/.test(line));
}
