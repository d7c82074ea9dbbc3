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
 * its dumps are written to `${outPrefix}.<pid>.<n>`. JIT-compiled code (V8) is handled by valgrind's
 * default self-modifying-code checks for anything not mapped from a file.
 */
export function underCallgrind(outPrefix, command, args) {
  return [
    findTool('valgrind'),
    ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${outPrefix}.%p`, command, ...args],
  ];
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
 * instructions it executed, all threads together, since counting started or since the dump before.
 */
export async function dumpCount(pid, outPrefix, n) {
  await control(pid, ['--dump']);
  const file = `${outPrefix}.${pid}.${n}`;
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
