// `server.workers: N`: the primary process forks N gateway workers sharing the listening ports
// (node:cluster), reloads them together (cluster-reload.ts), relays SIGTERM to them, and replaces a
// worker that dies unexpectedly. The primary serves no traffic: workers share Redis and PostgreSQL.
import cluster, { type Worker } from 'node:cluster';
import { type ConfigText, createCoordinator } from './cluster-reload.js';
import type { Logger } from './logger.js';

/** A worker that dies within this long of its start is not restarted at once (crash loop). */
const RESTART_BACKOFF_MS = 1_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

export interface PrimaryOptions {
  readonly workers: number;
  readonly log: Logger;
  readonly shutdownTimeoutMs: number;
  /** The config the primary loaded at start: every worker starts on this text, not on the file. */
  readonly initial: ConfigText;
  /** Reads the file once and checks it (SIGHUP, a worker's reload); throws when it is invalid. */
  readonly read: () => ConfigText;
}

export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { workers, log, shutdownTimeoutMs } = options;
  // Structured clone instead of JSON: metric snapshots may hold NaN or Infinity.
  cluster.setupPrimary({ serialization: 'advanced' });
  const coordinator = createCoordinator({ log, initial: options.initial, read: options.read });
  let stopping = false;
  const started = new Map<Worker, number>();
  const fork = (): void => {
    const worker = cluster.fork();
    coordinator.attach(worker);
    started.set(worker, Date.now());
  };
  cluster.on('message', (worker, message) => coordinator.receive(worker, message));
  for (let i = 0; i < workers; i++) fork();
  log.info({ workers }, 'primary started workers');
  // The primary logs rarely: flush each line rather than wait for a buffer that may never fill.
  log.flush();

  return new Promise<number>((done) => {
    cluster.on('exit', (worker, code, signal) => {
      const since = started.get(worker) ?? 0;
      started.delete(worker);
      coordinator.detach(worker);
      if (stopping) {
        if (started.size === 0) done(0);
        return;
      }
      log.error(
        { worker_pid: worker.process.pid, code, signal },
        'worker exited unexpectedly; starting a new one',
      );
      log.flush();
      setTimeout(fork, Math.max(0, RESTART_BACKOFF_MS - (Date.now() - since)));
    });
    // The primary reads the file once and reloads every worker; the outcome is logged there.
    process.on('SIGHUP', () => void coordinator.reload());
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      coordinator.stop();
      log.info({ signal }, 'primary stopping workers');
      log.flush();
      for (const worker of started.keys()) worker.process.kill('SIGTERM');
      // Workers drain within shutdown_timeout; anything still alive after that (and a margin) is killed.
      setTimeout(() => {
        for (const worker of started.keys()) worker.process.kill('SIGKILL');
      }, shutdownTimeoutMs + 5_000).unref();
      if (started.size === 0) done(0);
    };
    // Kept for every signal (stop ignores the later ones): a second SIGTERM must not kill the primary,
    // and with it every worker, mid-drain.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
