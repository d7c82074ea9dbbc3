// The SQLite store's checkpoint thread. Copying the WAL into the database file (a checkpoint, with its
// fsync) took 3–12 ms on the event loop in about 1 % of login-record commits during a login burst, and
// proxied requests waited behind it. The store's connection never checkpoints (wal_autocheckpoint = 0):
// a thread with a connection of its own does, every CHECKPOINT_MS. Login records and audit events
// wait while it runs (they are queued anyway), so that it copies the whole WAL and the next commit
// starts the WAL file over: a checkpoint racing a steady stream of commits never catches up, and the
// WAL grew to 84 MB in 10 s of logins. Other writes (rare) are not held back. The thread costs ≈ 10 MB
// of RSS, so it starts with the records and stops once the WAL has had nothing new for
// CHECKPOINT_IDLE_MS. Plain JavaScript evaluated in the thread (passwords.ts says why), loading the
// store's copy of better-sqlite3 by the path the store gives: sqlite-store.ts stays the only module
// importing it.

import { Worker } from 'node:worker_threads';

const CHECKPOINT_MS = 1_000;
const CHECKPOINT_IDLE_MS = 10_000;
const AUTOCHECKPOINT_PAGES = 1_000; // SQLite's default, restored when the thread fails
// Messages: thread → 'want' (may I?), store → 'go', thread → 'done' (checkpointed), and at its end
// 'idle' or 'stopped'; store → 'stop'.
const CHECKPOINT_SOURCE = `'use strict';
const load = (name) => process.getBuiltinModule(name);
const { parentPort, workerData } = load('node:worker_threads');
const Database = load('node:module').createRequire(workerData.library)(workerData.library);
const db = new Database(workerData.path, { fileMustExist: true, timeout: workerData.busyMs });
let frames = -1;
let quietSince = Date.now();
let asked = false;
const timer = setInterval(() => {
  if (asked) return;
  asked = true;
  parentPort.postMessage('want');
}, workerData.intervalMs);
const end = (message) => {
  clearInterval(timer);
  db.close();
  parentPort.postMessage(message);
  parentPort.close();
};
parentPort.on('message', (message) => {
  if (message !== 'go') return end('stopped');
  asked = false;
  let result;
  try {
    [result] = db.pragma('wal_checkpoint(PASSIVE)');
  } finally {
    parentPort.postMessage('done');
  }
  if (result.log !== frames) {
    frames = result.log;
    quietSince = Date.now();
  } else if (Date.now() - quietSince >= workerData.idleMs) end('idle');
});
`;

export interface CheckpointOptions {
  /** How often the checkpoint thread copies the WAL into the database file (ms, default 1 s). */
  readonly checkpointMs?: number;
  /** The checkpoint thread stops after this long without new writes (ms, default 10 s). */
  readonly checkpointIdleMs?: number;
  /** The checkpoint thread failed: the connection checkpoints on the event loop again from then on. */
  readonly onCheckpointError?: (err: Error) => void;
}

/** The store's side: its file, its library and its connection's automatic checkpoint. */
export interface CheckpointedDatabase {
  readonly path: string;
  /** better-sqlite3's entry point, resolved by the store. */
  readonly library: string;
  readonly busyMs: number;
  /** Sets the store's connection's `wal_autocheckpoint` (0 = never); a closed connection is left alone. */
  setAutocheckpoint(pages: number): void;
}

export interface Checkpointer {
  /**
   * Records are about to be written: starts the thread if none runs, and returns the checkpoint under
   * way (the records wait for it), or null.
   */
  beforeRecords(): Promise<void> | null;
  /** Stops the thread and closes its connection (the store's own close then checkpoints the rest). */
  stop(): Promise<void>;
}

export function createCheckpointer(db: CheckpointedDatabase, options: CheckpointOptions): Checkpointer {
  db.setAutocheckpoint(0);
  const workerData = {
    library: db.library,
    path: db.path,
    intervalMs: options.checkpointMs ?? CHECKPOINT_MS,
    idleMs: options.checkpointIdleMs ?? CHECKPOINT_IDLE_MS,
    busyMs: db.busyMs,
  };
  let current: { worker: Worker; exited: Promise<void> } | null = null;
  let retired = false; // stopped, or failed: no thread from here on
  let checkpoint: Promise<void> | null = null;
  let release = (): void => {};

  const fail = (err: Error): void => {
    release();
    if (retired) return;
    retired = true;
    current = null;
    // A WAL nobody checkpoints grows without bound: the connection does it itself again.
    db.setAutocheckpoint(AUTOCHECKPOINT_PAGES);
    options.onCheckpointError?.(err);
  };

  function start(): void {
    const worker = new Worker(CHECKPOINT_SOURCE, { eval: true, workerData });
    worker.unref();
    let ended = false; // it said 'idle' or 'stopped': its exit is expected
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: string) => {
      if (message === 'want') {
        // Nothing is being written at this moment (writes are synchronous): hold the next records.
        checkpoint = new Promise<void>((resolve) => {
          release = () => {
            checkpoint = null;
            resolve();
          };
        });
        worker.postMessage('go');
        return;
      }
      release();
      if (message === 'done') return;
      ended = true;
      if (current?.worker === worker) current = null;
    });
    worker.on('error', (err) => {
      ended = true;
      fail(err);
    });
    worker.on('exit', (code) => {
      release();
      if (!ended) fail(new Error(`checkpoint thread exited with code ${code}`));
    });
    current = { worker, exited };
  }

  return {
    beforeRecords() {
      if (current === null && !retired) start();
      return checkpoint;
    },
    async stop() {
      retired = true;
      const running = current;
      current = null;
      if (running === null) return;
      // Unref'd while it runs; waited for now: a process with nothing else to do (a CLI command) would
      // otherwise exit, status 0, in the middle of its close, and whatever came after never ran.
      running.worker.ref();
      running.worker.postMessage('stop');
      await running.exited;
    },
  };
}
