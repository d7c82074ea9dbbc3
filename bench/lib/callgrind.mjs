// Runs a process under valgrind's callgrind and reads how many instructions it executed between two
// points. Instruction counts do not depend on what else the machine is doing (the cores the process
// shares, the VM's steal time), so they compare builds and contenders where timings cannot. Only
// counts are read: no call graph is kept beyond the dump files in the run's temp folder.
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { runToCompletion } from './processes.mjs';
import { findTool } from './tools.mjs';

/** The reason the suite cannot run here, or null. */
export function callgrindUnavailable() {
  if (!findTool('valgrind') || !findTool('callgrind_control'))
    return 'valgrind is not installed (Debian package valgrind)';
  return null;
}

/**
 * [command, args] that run `command args` under callgrind with counting off until `countFrom()`;
 * its dumps are written to `${outPrefix}.<pid>.<n>` (with `byThread`, one file per thread:
 * `${outPrefix}.<pid>.<n>-<thread>`, the main thread 01). JIT-compiled code (V8) is handled by
 * valgrind's default self-modifying-code checks for anything not mapped from a file.
 */
export function underCallgrind(outPrefix, command, args, { byThread = false } = {}) {
  const flags = ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${outPrefix}.%p`];
  if (byThread) flags.push('--separate-threads=yes');
  return [findTool('valgrind'), [...flags, command, ...args]];
}

const control = (pid, args) =>
  runToCompletion('callgrind_control', findTool('callgrind_control'), [...args, String(pid)], {
    timeoutMs: 60_000,
  });

/** Starts counting in process `pid` (it was started with counting off). */
export async function countFrom(pid) {
  await control(pid, ['--instr=on']);
}

/**
 * Dumps process `pid`'s counts (its `n`-th dump, from 1) and resets them: resolves to the number of
 * instructions it executed since counting started or since the dump before: all threads together, or
 * with `mainThread` (a process started `byThread`) its main thread's alone.
 */
export async function dumpCount(pid, outPrefix, n, { mainThread = false } = {}) {
  await control(pid, ['--dump']);
  const file = `${outPrefix}.${pid}.${n}${mainThread ? '-01' : ''}`;
  // callgrind_control returns once the dump has begun; the file is complete when its totals are in.
  for (let waited = 0; waited < 30_000; waited += 50) {
    if (existsSync(file)) {
      const totals = /^totals:\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
      if (totals !== null) return Number(totals[1]);
    }
    await sleep(50);
  }
  throw new Error(`callgrind: no complete dump ${file} within 30 s`);
}
