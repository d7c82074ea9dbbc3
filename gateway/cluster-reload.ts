// The primary's side of a cluster reload: it owns the config text and the generation, reads and checks the
// file once, has every worker compile the same bytes (prepare), and swaps them all (commit) or none (abort).
// It also hands the config in force to starting workers and gathers metrics. It forks nothing (cluster.ts).
import type { Worker } from 'node:cluster';
import type { GatewayConfig } from '../config/types.js';
import { type Answer, type Channel, type ClusterRequest, createChannel } from './cluster-rpc.js';
import type { Logger } from './logger.js';
import { changeOf, fingerprintOf, logChange, type ReloadReport, reloadFailed } from './reload.js';

/** Compiling a config takes milliseconds: a worker silent this long is stuck, and the reload is refused. */
const PREPARE_TIMEOUT_MS = 5_000;
const COMMIT_TIMEOUT_MS = 5_000;
/** Within Prometheus's default scrape timeout (10 s). */
const SNAPSHOT_TIMEOUT_MS = 5_000;

export interface ConfigText {
  readonly text: string;
  readonly config: GatewayConfig;
}

export interface CoordinatorOptions {
  readonly log: Logger;
  /** The config the primary started with (generation 1). */
  readonly initial: ConfigText;
  /** Reads the file once and checks it; throws (ConfigError) when it is invalid. */
  readonly read: () => ConfigText;
}

export interface Coordinator {
  /** A forked worker: its messages go to `receive`. */
  attach(worker: Worker): void;
  receive(worker: Worker, message: unknown): void;
  /** An exited worker: whatever waited on it goes on without it. */
  detach(worker: Worker): void;
  /** SIGHUP or a worker's request: reloads every worker (requests waiting for the same turn share one). */
  reload(): Promise<ReloadReport>;
  /** Shutdown: reloads asked for from now on are refused. */
  stop(): void;
}

interface Link {
  readonly channel: Channel;
  /** Listening and on the config in force: reloads and scrapes include it. */
  ready: boolean;
}

const pidOf = (worker: Worker): string => `worker ${worker.process.pid ?? worker.id}`;
const isTimeout = (answer: Answer | undefined): boolean => answer?.ok === false && answer.why === 'timeout';

export function createCoordinator(options: CoordinatorOptions): Coordinator {
  const { log } = options;
  let current = { ...options.initial, generation: 1 };
  let stopping = false;
  const links = new Map<Worker, Link>();
  // Reloads, catch-ups and config hand-outs run one at a time: a worker never receives its config
  // from the middle of a reload.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };
  let waiting: Promise<ReloadReport> | null = null;

  const ready = (): Array<[Worker, Link]> => [...links].filter(([, link]) => link.ready);

  /** Has `workers` compile `text` as `generation`; the problems of those that failed, by worker. */
  async function prepareAll(workers: Array<[Worker, Link]>, next: ConfigText, generation: number) {
    const expected = fingerprintOf(next.config);
    const request: ClusterRequest = { kind: 'prepare', text: next.text, generation };
    const answers = await Promise.all(workers.map(([, l]) => l.channel.ask(request, PREPARE_TIMEOUT_MS)));
    const refused: string[] = [];
    const failed: string[] = [];
    answers.forEach((answer, i) => {
      const name = pidOf(workers[i]![0]);
      if (!answer.ok) {
        // One that exited is being replaced: its successor asks for the config once this one is settled.
        if (answer.why === 'timeout') failed.push(`${name}: no answer within ${PREPARE_TIMEOUT_MS / 1000} s`);
        return;
      }
      const body = answer.body as { error?: unknown; fingerprint?: unknown } | null;
      if (typeof body?.error === 'string') refused.push(`${name}: ${body.error}`);
      // The same text compiles to the same config in the same code: a worker that differs runs other code
      // (files upgraded in place, then a crashed worker replaced from them), which no reload can mend.
      else if (body?.fingerprint !== expected) {
        failed.push(
          `${name}: compiled the same text to a different config (it runs other code than the primary: after upgrading files in place, restart the gateway)`,
        );
      }
    });
    return { refused, failed };
  }

  /** Swaps the prepared config in on `workers`: how many confirmed, and the problems of the others. */
  async function commitAll(
    workers: Array<[Worker, Link]>,
    generation: number,
  ): Promise<{ confirmed: number; unconfirmed: string[] }> {
    const answers = await Promise.all(
      workers.map(([, l]) => l.channel.ask({ kind: 'commit', generation }, COMMIT_TIMEOUT_MS)),
    );
    let confirmed = 0;
    const unconfirmed: string[] = [];
    answers.forEach((answer, i) => {
      const name = pidOf(workers[i]![0]);
      const error = answer.ok ? (answer.body as { error?: unknown } | null)?.error : undefined;
      if (answer.ok && error === undefined) confirmed++;
      else if (typeof error === 'string') unconfirmed.push(`${name}: ${error}`);
      else if (isTimeout(answer)) {
        const wait = COMMIT_TIMEOUT_MS / 1000;
        unconfirmed.push(`${name}: no confirmation within ${wait} s (it switches when it reads the message)`);
      }
    });
    return { confirmed, unconfirmed };
  }

  async function reloadAll(): Promise<ReloadReport> {
    if (stopping) return reloadFailed(current.generation, 'worker_failed', 'the gateway is shutting down');
    let next: ConfigText;
    try {
      next = options.read();
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.error({ err: error }, 'config reload failed: keeping the current config');
      log.flush();
      return reloadFailed(current.generation, 'invalid_config', error);
    }
    const generation = current.generation + 1;
    const workers = ready();
    const { refused, failed } = await prepareAll(workers, next, generation);
    if (refused.length > 0 || failed.length > 0) {
      for (const [, link] of workers) link.channel.tell({ kind: 'abort', generation });
      const problems = [...refused, ...failed];
      log.error({ failed: problems }, 'config reload failed: keeping the current config');
      log.flush();
      return reloadFailed(
        current.generation,
        failed.length > 0 ? 'worker_failed' : 'invalid_config',
        `no worker changed config; ${problems.join('; ')}`,
      );
    }
    const change = changeOf(options.initial.config, current.config, next.config);
    current = { ...next, generation };
    const { confirmed, unconfirmed } = await commitAll(workers, generation);
    logChange(log, change);
    if (unconfirmed.length > 0) {
      log.error({ generation, unconfirmed }, 'config reload: a worker did not confirm the new config');
      log.flush();
      const problems = unconfirmed.join('; ');
      return reloadFailed(
        generation,
        'worker_failed',
        `generation ${generation} is in force, but ${problems}`,
      );
    }
    log.info({ generation, workers: confirmed }, 'config reloaded on every worker');
    log.flush();
    return { ok: true, generation, workers: confirmed, ...change };
  }

  /** A worker that became ready on an older generation (a reload ran while it started) is brought up to date. */
  async function catchUp(worker: Worker, generation: number): Promise<void> {
    const link = links.get(worker);
    if (link === undefined) return;
    if (generation !== current.generation) {
      const { refused, failed } = await prepareAll([[worker, link]], current, current.generation);
      const { unconfirmed } =
        refused.length + failed.length === 0
          ? await commitAll([[worker, link]], current.generation)
          : { unconfirmed: [...refused, ...failed] };
      if (unconfirmed.length > 0) {
        // It would serve another config than its peers: replace it (its successor starts on the one in force).
        log.error({ failed: unconfirmed }, 'worker could not take the config in force; replacing it');
        log.flush();
        worker.process.kill('SIGTERM');
        return;
      }
    }
    link.ready = true;
  }

  async function gather(): Promise<{ snapshots: unknown[] } | { error: string }> {
    const workers = ready();
    const answers = await Promise.all(
      workers.map(([, l]) => l.channel.ask({ kind: 'snapshot' }, SNAPSHOT_TIMEOUT_MS)),
    );
    const silent = workers.filter((_, i) => isTimeout(answers[i]));
    // A partial sum would look like a counter reset to Prometheus: fail the scrape instead.
    if (silent.length > 0)
      return {
        error: `${silent.map(([w]) => pidOf(w)).join(', ')}: no metrics within ${SNAPSHOT_TIMEOUT_MS / 1000} s`,
      };
    return { snapshots: answers.flatMap((a) => (a.ok ? [a.body] : [])) };
  }

  function reload(): Promise<ReloadReport> {
    // A request made while another waits for its turn joins it: that reload has not read the file yet.
    if (waiting !== null) return waiting;
    const run = serial(() => {
      waiting = null;
      return reloadAll();
    });
    waiting = run;
    return run;
  }

  function serve(worker: Worker, request: ClusterRequest): unknown {
    switch (request.kind) {
      case 'config':
        // What the cluster started on (stores, listeners, keys) and what it runs now (routes, limits…).
        return serial(async () => ({
          started: options.initial.text,
          text: current.text,
          generation: current.generation,
        }));
      case 'ready':
        return serial(() => catchUp(worker, request.generation));
      case 'reload':
        return reload();
      case 'gather':
        return gather();
      default:
        return { error: `${request.kind} is not a request for the primary` };
    }
  }

  return {
    attach(worker) {
      const channel = createChannel(
        (message) => {
          if (!worker.isConnected()) throw new Error('worker disconnected');
          // With a callback a failed send is not an 'error' event: the worker's exit settles what waits on it.
          worker.send(message, undefined, () => undefined);
        },
        (request) => serve(worker, request),
      );
      links.set(worker, { channel, ready: false });
    },
    receive(worker, message) {
      links.get(worker)?.channel.receive(message);
    },
    detach(worker) {
      links.get(worker)?.channel.close();
      links.delete(worker);
    },
    reload,
    stop() {
      stopping = true;
    },
  };
}
