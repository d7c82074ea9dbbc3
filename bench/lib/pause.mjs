// Pauses contenders that are not being timed (SIGSTOP on their whole process tree, SIGCONT after), so
// that a contender's window measures it alone with its upstream and Redis, not also the idle timers,
// garbage collections and memory reducers of ten other processes that just ran under load. Every
// process paused is resumed before the run stops its children (processes.mjs runs resumeAll first,
// through beforeStopping: a stopped process would not see SIGTERM until SIGKILL).
import { processTree } from './proc-stats.mjs';
import { beforeStopping } from './processes.mjs';

const paused = new Set();

function signal(pid, name) {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false; // ended meanwhile
  }
}

/** Pauses the trees of `rootPids`; returns resume(), which continues exactly those processes. */
export function pauseTrees(rootPids) {
  const mine = [];
  for (const root of rootPids) {
    for (const pid of processTree(root)) {
      if (!paused.has(pid) && signal(pid, 'SIGSTOP')) {
        paused.add(pid);
        mine.push(pid);
      }
    }
  }
  return () => {
    for (const pid of mine) {
      paused.delete(pid);
      signal(pid, 'SIGCONT');
    }
  };
}

/** Continues every process still paused. */
function resumeAll() {
  for (const pid of paused) signal(pid, 'SIGCONT');
  paused.clear();
}

beforeStopping(resumeAll);
