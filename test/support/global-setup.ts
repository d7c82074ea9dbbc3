// Builds dist/ once before the suite: tests that run the gateway as a child process
// (signals, crash durability, the CLI) start the same compiled code users run.
import { spawnSync } from 'node:child_process';

export default function setup(): void {
  const result = spawnSync(process.execPath, ['build.mjs', '--if-stale'], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('build failed');
}
