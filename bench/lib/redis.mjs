// The bench's own redis-server on a free port (no persistence, nothing shared with other engineers'
// Redis) and a client for the bench's own bookkeeping. It does not decide which contenders use it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startProcess, waitForPort } from './processes.mjs';
import { findTool } from './tools.mjs';

export const redisServerPath = () => findTool('redis-server');

/** Starts redis-server; resolves to { url, port, pid }. */
export async function startRedis(ctx) {
  const port = await freePort();
  const dir = join(ctx.tmpDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const proc = startProcess(
    'redis',
    redisServerPath(),
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      // 64 bench connections plus several gateways' pools: the default 511 backlog is enough, but
      // the kernel's somaxconn caps it anyway; say so explicitly rather than rely on a warning.
      '--tcp-backlog',
      '511',
    ],
    { logDir: ctx.logDir },
  );
  await waitForPort(port, proc);
  return { url: `redis://127.0.0.1:${port}`, port, pid: proc.pid };
}

/**
 * A client for the bench's own writes (peer sessions, revocations); closed at the end by the caller.
 * It never reconnects: once the bench's redis-server is stopped there is nothing to reconnect to,
 * and a failed command still rejects where it was awaited.
 */
export function redisClient(url) {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  return client;
}
