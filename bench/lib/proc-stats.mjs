// Reads a contender's CPU time and peak memory from /proc, summed over its process tree (nginx and
// clustered gateways do their work in children). Linux only; elsewhere the figures are null.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let ticksPerSecond = null;
function clockTicks() {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * Fields after the command name of /proc/<pid>/stat, or of one thread's (/proc/<pid>/task/<tid>/stat);
 * the name may hold spaces and parentheses.
 */
function statFields(pid, tid = null) {
  const text = readFileSync(tid === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU seconds in stat fields (14 and 15 of proc(5)). */
const cpuOf = (fields) => (Number(fields[11]) + Number(fields[12])) / clockTicks();

/** `pid` and all its descendants that are alive now. */
export function processTree(pid) {
  const parentOf = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parentOf.set(Number(entry), Number(statFields(entry)[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** Sum over `pid`'s tree of a number read from each process's stat fields, or null off Linux. */
function statSum(pid, read) {
  if (pid == null) return null;
  try {
    let sum = 0;
    for (const p of processTree(pid)) {
      try {
        sum += read(statFields(p));
      } catch {
        // Gone meanwhile: its share is lost, which only happens at shutdown.
      }
    }
    return sum;
  } catch {
    return null;
  }
}

/** User + system CPU seconds of the tree (fields 14 and 15 of proc(5) stat), or null off Linux. */
export function cpuSeconds(pid) {
  return statSum(pid, cpuOf);
}

/**
 * CPU seconds of one process (not its tree): { main: its main thread's (the event loop of a Node
 * process), all: every thread's }, or null off Linux.
 */
export function threadCpuSeconds(pid) {
  if (pid == null) return null;
  try {
    return { main: cpuOf(statFields(pid, pid)), all: cpuOf(statFields(pid)) };
  } catch {
    return null;
  }
}

/** Minor page faults of the tree so far (field 10 of proc(5) stat), or null off Linux. */
export const minorFaults = (pid) => statSum(pid, (f) => Number(f[7]));

/** Sum over the tree of each process's peak resident set (VmHWM), in bytes, or null off Linux. */
export const peakRssBytes = (pid) => statusSum(pid, 'VmHWM');

/** Sum over the tree of each process's resident set now (VmRSS), in bytes, or null off Linux. */
export const rssBytes = (pid) => statusSum(pid, 'VmRSS');

function statusSum(pid, field) {
  if (pid == null) return null;
  const pattern = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm');
  try {
    let kib = 0;
    for (const p of processTree(pid)) {
      try {
        const m = pattern.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
        if (m) kib += Number(m[1]);
      } catch {
        // Gone meanwhile.
      }
    }
    return kib * 1024;
  } catch {
    return null;
  }
}

/**
 * Resets the peak resident set (VmHWM) of `pid`'s tree to its current RSS (proc(5) clear_refs, "5"),
 * so that a later peakRssBytes covers only what happened in between. False where that is refused.
 */
export function resetPeakRss(pid) {
  try {
    for (const p of processTree(pid)) writeFileSync(`/proc/${p}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
