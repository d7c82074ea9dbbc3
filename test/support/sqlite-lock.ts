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
