// `server.workers: N`: the primary process forks N gateway workers sharing the listening ports
// (node:cluster), reloads them together (cluster-reload.ts), relays SIGTERM to them, and replaces a
// worker that dies unexpectedly. The primary serves no traffic: workers share Redis and PostgreSQL.
import cluster, { type Worker } from 'node:cluster';
import { type ConfigText, createCoordinator } from './cluster-reload.js';
import type { Logger } from './logger.js';

/** The first delay before a worker that died is replaced; each death soon after a start doubles it. */
const RESTART_BACKOFF_MS = 1_000;
/** The longest delay between replacements of workers that keep dying (a store down, say). */
const RESTART_BACKOFF_MAX_MS = 30_000;
/** A worker that lived this long was healthy: the delay starts again from RESTART_BACKOFF_MS. */
const HEALTHY_AFTER_MS = 60_000;
/** Exit code when no worker ever started (the same as a single process that cannot start). */
const EXIT_FAILED = 1;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

export interface PrimaryOptions {
  readonly workers: number;
  readonly log: Logger;
  readonly shutdownTimeoutMs: number;
  /** Hands over what SIGHUP does from now on (the caller has held SIGHUP since the process started). */
  readonly reloadSignal: (reload: () => void) => void;
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
  // Until a worker listens, a worker's death is a failed start, not a crash to recover from.
  let serving = false;
  let backoffMs = RESTART_BACKOFF_MS;
  const started = new Map<Worker, number>();
  const fork = (): void => {
    const worker = cluster.fork();
    coordinator.attach(worker);
    started.set(worker, Date.now());
  };
  cluster.on('message', (worker, message) => coordinator.receive(worker, message));
  cluster.on('listening', () => {
    serving = true;
  });
  for (let i = 0; i < workers; i++) fork();
  log.info({ workers }, 'primary started workers');
  // The primary logs rarely: flush each line rather than wait for a buffer that may never fill.
  log.flush();

  let exitCode = 0;
  return new Promise<number>((done) => {
    cluster.on('exit', (worker, code, signal) => {
      const since = started.get(worker) ?? 0;
      started.delete(worker);
      coordinator.detach(worker);
      if (stopping) {
        if (started.size === 0) done(exitCode);
        return;
      }
      if (!serving) {
        // The worker said why on stderr and in the log (a store that does not answer, a key file): the
        // others would fail the same way. Exit 1 like a single process, for the supervisor to see.
        log.error(
          { worker_pid: worker.process.pid, code, signal },
          'a worker failed to start before any was serving; stopping',
        );
        exitCode = EXIT_FAILED;
        stop('start failed');
        return;
      }
      const lived = Date.now() - since;
      if (lived >= HEALTHY_AFTER_MS) backoffMs = RESTART_BACKOFF_MS;
      const delayMs = Math.max(0, backoffMs - lived);
      backoffMs = Math.min(backoffMs * 2, RESTART_BACKOFF_MAX_MS);
      log.error(
        { worker_pid: worker.process.pid, code, signal, restart_in_ms: delayMs },
        'worker exited unexpectedly; starting a new one',
      );
      log.flush();
      setTimeout(() => {
        if (!stopping) fork();
      }, delayMs);
    });
    // The primary reads the file once and reloads every worker; the outcome is logged there.
    options.reloadSignal(() => void coordinator.reload());
    const stop = (reason: string): void => {
      if (stopping) return;
      stopping = true;
      coordinator.stop();
      log.info(reason.startsWith('SIG') ? { signal: reason } : { reason }, 'primary stopping workers');
      log.flush();
      for (const worker of started.keys()) worker.process.kill('SIGTERM');
      // Workers drain within shutdown_timeout; anything still alive after that (and a margin) is killed.
      setTimeout(() => {
        for (const worker of started.keys()) worker.process.kill('SIGKILL');
      }, shutdownTimeoutMs + 5_000).unref();
      if (started.size === 0) done(exitCode);
    };
    // Kept for every signal (stop ignores the later ones): a second SIGTERM must not kill the primary,
    // and with it every worker, mid-drain.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
