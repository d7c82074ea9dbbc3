// Audit listings of the SQLite store, read on a thread of their own through a read-only connection. A
// type or time filter scans the log from the newest row (migration 3 dropped those indexes for the
// login write cost: bench/HISTORY.md), 5 s on 3 M events, and on the event loop every request waited
// that long. Writes and the chain check stay on the store's connection. Plain JavaScript evaluated in
// the thread, loading the store's copy of better-sqlite3 by path (sqlite-checkpointer.ts says why).

import { Worker } from 'node:worker_threads';

// Messages: store → {id, sql, params}; thread → {id, rows} or {id, error: {message, code}}.
const READER_SOURCE = `'use strict';
const load = (name) => process.getBuiltinModule(name);
const { parentPort, workerData } = load('node:worker_threads');
const Database = load('node:module').createRequire(workerData.library)(workerData.library);
const db = new Database(workerData.path, { readonly: true, fileMustExist: true, timeout: workerData.busyMs });
const prepared = new Map();
parentPort.on('message', ({ id, sql, params }) => {
  try {
    let statement = prepared.get(sql);
    if (statement === undefined) prepared.set(sql, (statement = db.prepare(sql)));
    parentPort.postMessage({ id, rows: statement.all(params) });
  } catch (err) {
    parentPort.postMessage({ id, error: { message: String(err && err.message), code: err && err.code } });
  }
});
`;

export interface AuditReaderFile {
  readonly path: string;
  /** better-sqlite3's entry point, resolved by the store. */
  readonly library: string;
  readonly busyMs: number;
}

export type ReaderParams = Readonly<Record<string, string | number | null>>;

export interface AuditReader {
  /** The rows of one read-only statement; rejects with an Error carrying SQLite's `code`. */
  all<R>(sql: string, params: ReaderParams): Promise<R[]>;
  close(): Promise<void>;
}

type Reply = { id: number; rows: unknown[] } | { id: number; error: { message: string; code?: string } };

export function createAuditReader(file: AuditReaderFile): AuditReader {
  let worker: Worker | null = null;
  let closed = false;
  let nextId = 0;
  const pending = new Map<number, { resolve(rows: unknown[]): void; reject(err: Error): void }>();

  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  function thread(): Worker {
    if (worker !== null) return worker;
    const started = new Worker(READER_SOURCE, { eval: true, workerData: file });
    // Idle between listings; a listing under way holds the process through its promise's caller.
    started.unref();
    started.on('message', (reply: Reply) => {
      const waiting = pending.get(reply.id);
      if (waiting === undefined) return;
      pending.delete(reply.id);
      if ('rows' in reply) waiting.resolve(reply.rows);
      else waiting.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    // A thread that failed (the file gone, out of memory) fails what waits on it; the next listing starts another.
    started.on('error', (err) => failAll(err));
    started.on('exit', (code) => {
      if (worker === started) worker = null;
      failAll(new Error(`audit reader thread exited with code ${code}`));
    });
    worker = started;
    return started;
  }

  return {
    all<R>(sql: string, params: ReaderParams): Promise<R[]> {
      if (closed) return Promise.reject(new Error('audit reader closed'));
      const id = ++nextId;
      const reader = thread();
      return new Promise<R[]>((resolve, reject) => {
        pending.set(id, { resolve: (rows) => resolve(rows as R[]), reject });
        reader.ref(); // while a listing waits, the process waits for it
        reader.postMessage({ id, sql, params });
      }).finally(() => {
        if (pending.size === 0) worker?.unref();
      });
    },
    async close() {
      closed = true;
      const running = worker;
      worker = null;
      if (running !== null) await running.terminate();
    },
  };
}
