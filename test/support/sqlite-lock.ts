// Another connection holding a SQLite database's write lock, as an operator's shell or a backup tool
// would: the real `sqlite3` command line, not a mock of the store.
import { type ChildProcess, spawn } from 'node:child_process';
import { waitFor } from '../integration/helpers.js';

/** A `sqlite3` shell holding the database's write lock until release(). */
export async function holdWriteLock(db: string): Promise<{ release(): Promise<void> }> {
  const shell: ChildProcess = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  shell.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  shell.stdin!.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n");
  await waitFor(() => out.includes('locked'), 5_000, 'the sqlite3 shell to take the lock');
  return {
    async release() {
      const exited = new Promise<void>((done) => shell.once('exit', () => done()));
      shell.stdin!.end('COMMIT;\n.quit\n');
      await exited;
    },
  };
}

/**
 * Takes the write lock, starts `send`, holds the lock `holdMs` (inside an answer's 1 s wait for its
 * records, with room for the audit queue's busy wait and retry after the release), releases it and
 * returns the reply with when it came and when the lock went.
 */
export async function sendUnderLock<T>(
  db: string,
  send: () => Promise<T>,
  holdMs = 200,
): Promise<{ reply: T; answeredAt: number; releasedAt: number }> {
  const lock = await holdWriteLock(db);
  let answeredAt = 0;
  let releasedAt = 0;
  const pending = send().then((reply) => {
    answeredAt = performance.now();
    return reply;
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, holdMs));
  } finally {
    releasedAt = performance.now();
    await lock.release();
  }
  return { reply: await pending, answeredAt, releasedAt };
}
