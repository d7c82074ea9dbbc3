// `server.workers: N`: the primary process forks N gateway workers sharing the listening ports
// (node:cluster), relays SIGHUP and SIGTERM to them, and replaces a worker that dies unexpectedly.
// The primary serves no traffic and holds no state: workers share Redis and PostgreSQL.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logger.js';

/** A worker that dies within this long of its start is not restarted at once (crash loop). */
const RESTART_BACKOFF_MS = 1_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

export function runPrimary(workers: number, log: Logger, shutdownTimeoutMs: number): Promise<number> {
  let stopping = false;
  const started = new Map<Worker, number>();
  const fork = (): void => {
    started.set(cluster.fork(), Date.now());
  };
  for (let i = 0; i < workers; i++) fork();
  log.info({ workers }, 'primary started workers');
  // The primary logs rarely: flush each line rather than wait for a buffer that may never fill.
  log.flush();

  return new Promise<number>((done) => {
    cluster.on('exit', (worker, code, signal) => {
      const since = started.get(worker) ?? 0;
      started.delete(worker);
      if (stopping) {
        if (started.size === 0) done(0);
        return;
      }
      log.error({ pid: worker.process.pid, code, signal }, 'worker exited unexpectedly; starting a new one');
      log.flush();
      setTimeout(fork, Math.max(0, RESTART_BACKOFF_MS - (Date.now() - since)));
    });
    process.on('SIGHUP', () => {
      for (const worker of started.keys()) worker.process.kill('SIGHUP');
    });
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'primary stopping workers');
      log.flush();
      for (const worker of started.keys()) worker.process.kill('SIGTERM');
      // Workers drain within shutdown_timeout; anything still alive after that (and a margin) is killed.
      setTimeout(() => {
        for (const worker of started.keys()) worker.process.kill('SIGKILL');
      }, shutdownTimeoutMs + 5_000).unref();
      if (started.size === 0) done(0);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
