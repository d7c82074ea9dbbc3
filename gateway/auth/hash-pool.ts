// The hashing threads behind passwords.ts: one per core (or as configured), each computing one hash at a
// time with the next one already in its own queue, at the lowest CPU priority. Jobs a waiting client
// has left, or that waited too long for a thread, are refused unstarted. It does not know Argon2's
// parameters: passwords.ts gives each job its options and the library's path.
import { Worker } from 'node:worker_threads';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * A hash a client is waiting for (a login, a registration): it is dropped unstarted once the client has
 * left, and refused `503 overloaded` when it waited longer than MAX_QUEUE_WAIT_MS for a thread. Hashes
 * without one (a rehash, a login's second look, the CLI) always run.
 */
export interface HashClient {
  gone(): boolean;
}

/** After close (shutdown outlasted its timeout): the request is answered 503 shutting_down. */
const hasherClosed = (): GatewayError =>
  new GatewayError('shutting_down', { cause: new Error('password hasher is closed') });

/**
 * The longest a client's hash waits for a thread. Beyond it the hashing threads are behind by more than
 * any client should wait (a flood of logins from many addresses): answering 503 at once keeps the queue
 * from growing without bound, and the hashes still queued from before the flood are refused in turn
 * without being computed, so the threads catch up within this long of the flood's end.
 */
export const MAX_QUEUE_WAIT_MS = 10_000;

const refused = (why: string): GatewayError => new GatewayError('overloaded', { cause: new Error(why) });

/** One hashing thread, for tests and diagnostics. */
export interface HashThread {
  /** The kernel's thread id (Linux; null elsewhere or before the thread started). */
  readonly tid: number | null;
  /** Stops the thread as a crash would: its hash rejects, and the next hash starts a fresh thread. */
  terminate(): Promise<void>;
}

// The lowest priority (nice 19): the kernel runs a hashing thread only when no normal-priority thread
// (the event loop, the upstream, Redis) wants the core, so a login burst cannot delay proxied requests,
// while an idle machine still hashes at full speed. On Linux the nice value belongs to the thread;
// elsewhere (macOS, Windows) it belongs to the whole process, so it is left alone there.
const WORKER_NICE = 19;

/** Hashes handed to one thread at a time: the one it computes and the one it starts next. */
const THREAD_QUEUE = 2;

// The worker's whole program, plain JavaScript evaluated in the thread (`eval: true`). A file of its
// own would need one path in dist/ and another under vitest (which runs these TypeScript sources on a
// Node that cannot run TypeScript in a worker). It loads the copy of @node-rs/argon2 whose path passwords.ts
// resolves. Eval'd code is CommonJS or ESM depending on the parent's flags (node
// --input-type=module), so it uses neither require nor import: process.getBuiltinModule works in both.
// verify answers false for an unparsable stored hash, as it always has.
const WORKER_SOURCE = `'use strict';
const load = (name) => process.getBuiltinModule(name);
const { parentPort, workerData } = load('node:worker_threads');
let priorityError = null;
if (workerData.nice !== null) {
  try { load('node:os').setPriority(0, workerData.nice); }
  catch (err) { priorityError = String((err && err.message) || err); }
}
let tid = null;
try { tid = Number(load('node:fs').readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]); }
catch {}
const argon2 = load('node:module').createRequire(workerData.argon2)(workerData.argon2);
parentPort.postMessage({ kind: 'ready', tid, priorityError });
parentPort.on('message', (job) => {
  let value;
  try {
    if (job.op === 'hash') value = argon2.hashSync(job.password, job.options);
    else {
      try { value = argon2.verifySync(job.hash, job.password); }
      catch { value = false; }
    }
  } catch (err) {
    parentPort.postMessage({ kind: 'done', id: job.id, ok: false, message: String((err && err.message) || err) });
    return;
  }
  parentPort.postMessage({ kind: 'done', id: job.id, ok: true, value });
});
`;

type JobMessage =
  | { readonly op: 'hash'; readonly password: string; readonly options: object }
  | { readonly op: 'verify'; readonly hash: string; readonly password: string };

type Reply =
  | { readonly kind: 'ready'; readonly tid: number | null; readonly priorityError: string | null }
  | { readonly kind: 'done'; readonly id: number; readonly ok: true; readonly value: string | boolean }
  | { readonly kind: 'done'; readonly id: number; readonly ok: false; readonly message: string };

interface Job {
  readonly id: number;
  readonly message: JobMessage;
  readonly client: HashClient | undefined;
  readonly queuedAt: number;
  resolve(value: string | boolean): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker | null;
  /**
   * What this slot's thread was given, oldest first: the first is computing, the next waits in the
   * thread's own message queue, so the thread starts it without waiting for the event loop.
   */
  jobs: Job[];
  tid: number | null;
  /** Stops the idle thread unless a hash comes first. */
  idle: NodeJS.Timeout | null;
}

export interface HashPool {
  run(message: JobMessage, client: HashClient | undefined): Promise<string | boolean>;
  threads(): readonly HashThread[];
  close(): Promise<void>;
}

// One thread per core: more only take CPU from each other without hashing any faster. Waiting hashes
// queue here in order. A thread is held (ref) only while it computes, so an idle pool never keeps
// the process alive, and a CLI awaiting a hash is not cut short.
export function createHashPool(
  argon2Path: string,
  size: number,
  log: Pick<Logger, 'warn' | 'error'> | undefined,
  idleMs: number,
  maxWaitMs: number,
): HashPool {
  const slots: Slot[] = Array.from({ length: size }, () => ({
    worker: null,
    jobs: [],
    tid: null,
    idle: null,
  }));
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;
  let priorityReported = false;
  const nice = process.platform === 'linux' ? WORKER_NICE : null;

  function reportPriority(error: string | null): void {
    if (priorityReported || (error === null && nice !== null)) return;
    priorityReported = true;
    log?.warn(
      { platform: process.platform, err: error },
      'password hashing runs at normal CPU priority: a login burst can delay proxied requests',
    );
  }

  function spawn(slot: Slot): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { argon2: argon2Path, nice },
    });
    worker.unref();
    let crash: Error | undefined;
    worker.on('message', (reply: Reply) => {
      if (slot.worker !== worker) return;
      if (reply.kind === 'ready') {
        slot.tid = reply.tid;
        reportPriority(reply.priorityError);
        return;
      }
      const job = slot.jobs[0];
      if (job === undefined || job.id !== reply.id) return;
      slot.jobs.shift();
      if (reply.ok) job.resolve(reply.value);
      else job.reject(new Error(`password hashing failed: ${reply.message}`));
      dispatch();
      if (slot.jobs.length === 0) {
        worker.unref();
        slot.idle = setTimeout(() => retire(slot), idleMs).unref();
      }
    });
    worker.on('error', (err) => {
      crash = err; // an uncaught exception in the thread; 'exit' follows
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return; // closed
      const err = new Error(`password hashing thread stopped (exit code ${code})`, { cause: crash });
      const [running, ...unstarted] = slot.jobs;
      empty(slot);
      log?.error({ err }, 'password hashing thread stopped; the next hash starts a new one');
      running?.reject(err);
      // Hashes the thread had not started yet go back to the front of the queue, in order.
      queue.unshift(...unstarted);
      // Waiting hashes go to a fresh thread. One that cannot even start (a broken install) fails the
      // hash it was given, so each waiting hash gets one try and an error: none waits forever.
      dispatch();
    });
    return worker;
  }

  // Forgets the slot's thread (its 'exit' is then ignored) and what it was doing.
  function empty(slot: Slot): void {
    if (slot.idle !== null) clearTimeout(slot.idle);
    Object.assign(slot, { worker: null, jobs: [], tid: null, idle: null });
  }

  function retire(slot: Slot): void {
    const worker = slot.worker;
    if (worker === null || slot.jobs.length > 0) return;
    empty(slot);
    void worker.terminate();
  }

  /** The oldest waiting job that still has a client waiting for it in time; the others are refused. */
  function nextJob(): Job | undefined {
    for (;;) {
      const job = queue.shift();
      if (job?.client === undefined) return job;
      if (job.client.gone()) job.reject(refused('the client left before its hash started'));
      else if (performance.now() - job.queuedAt > maxWaitMs)
        job.reject(refused(`the hash waited over ${maxWaitMs} ms for a thread`));
      else return job;
    }
  }

  // Each thread gets one hash, then (when more wait) a second one to start the moment the first ends:
  // a thread that had to wait for the event loop between hashes would idle while logins are queued.
  function dispatch(): void {
    for (let depth = 1; depth <= THREAD_QUEUE; depth++) {
      for (const slot of slots) {
        if (slot.jobs.length >= depth) continue;
        const job = nextJob();
        if (job === undefined) return;
        if (slot.idle !== null) clearTimeout(slot.idle);
        slot.idle = null;
        slot.worker ??= spawn(slot);
        slot.jobs.push(job);
        slot.worker.ref();
        slot.worker.postMessage({ id: job.id, ...job.message });
      }
    }
  }

  return {
    run(message, client) {
      if (closed) return Promise.reject(hasherClosed());
      return new Promise((resolve, reject) => {
        queue.push({ id: nextId++, message, client, queuedAt: performance.now(), resolve, reject });
        dispatch();
      });
    },
    threads() {
      return slots.flatMap((slot) => {
        const worker = slot.worker;
        if (worker === null) return [];
        return [{ tid: slot.tid, terminate: () => worker.terminate().then(() => undefined) }];
      });
    },
    async close() {
      closed = true;
      const err = hasherClosed();
      for (const waiting of queue.splice(0)) waiting.reject(err);
      const stopping: Promise<number>[] = [];
      for (const slot of slots) {
        for (const job of slot.jobs) job.reject(err);
        if (slot.worker !== null) stopping.push(slot.worker.terminate());
        empty(slot);
      }
      await Promise.all(stopping);
    },
  };
}
