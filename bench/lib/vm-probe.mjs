// What this machine charges for the two things a proxy does most, measured apart from any contender so
// that runs on different days (or VMs) can be told apart: a loopback round trip between two processes
// (on one CPU and across two) and a small fixed piece of work right after its thread slept. Figures of
// the other suites move with both (bench/README.md, "The machine's state").
//
// Roles, each its own process: `node vm-probe.mjs echo PORT` (a TCP echo server), `node vm-probe.mjs
// ping PORT N` (N one-byte round trips, one at a time; prints {p50Us, p99Us}), `node vm-probe.mjs
// wake N` (the fixed work back to back, then N times after a 2 ms sleep; prints {warmUs, afterSleepUs}).
import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, runToCompletion, startProcess, waitForPort } from './processes.mjs';
import { median, percentile } from './stats.mjs';
import { findTool } from './tools.mjs';

const SCRIPT = fileURLToPath(import.meta.url);
const ROUND_TRIPS = 3000;
const WAKES = 300;

const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

function echo(port) {
  createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
  }).listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}

async function ping(port, n) {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const once = () => new Promise((resolve) => socket.once('data', resolve).write('x'));
  for (let i = 0; i < 200; i++) await once(); // warm-up, not recorded
  const us = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    us.push((performance.now() - t0) * 1000);
  }
  socket.destroy();
  us.sort((a, b) => a - b);
  print({ p50Us: percentile(us, 50), p99Us: percentile(us, 99) });
}

function wake(n) {
  const input = Buffer.alloc(60, 7);
  const record = { sub: 'a'.repeat(32), sid: 'b'.repeat(22), roles: ['user'], exp: 1_800_000_000 };
  const work = () => {
    createHash('sha256').update(input).digest();
    JSON.parse(JSON.stringify(record));
  };
  const timed = () => {
    const t0 = performance.now();
    work();
    return (performance.now() - t0) * 1000;
  };
  for (let i = 0; i < 2000; i++) work(); // optimised before anything is timed
  const warm = Array.from({ length: 2000 }, timed);
  // Atomics.wait puts the thread to sleep in the kernel, as an event loop waiting for I/O does.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const afterSleep = [];
  for (let i = 0; i < n; i++) {
    Atomics.wait(cell, 0, 0, 2);
    afterSleep.push(timed());
  }
  print({ warmUs: median(warm), afterSleepUs: median(afterSleep) });
}

/** `taskset -c CPU` before `command` when taskset is there and `cpu` is set; else the command alone. */
function pinned(cpu, args) {
  const taskset = findTool('taskset');
  if (cpu === null || taskset === null) return [process.execPath, args];
  return [taskset, ['-c', String(cpu), process.execPath, ...args]];
}

/**
 * Measures the machine (a few seconds; the caller runs it while nothing else does): the loopback round
 * trip with the echo server and the client on one CPU and on two (when taskset and a second CPU are
 * there), and the fixed work back to back and after a sleep.
 */
export async function probeMachine(ctx, cpus) {
  const port = await freePort();
  const pinnable = findTool('taskset') !== null && cpus >= 2;
  const [command, args] = pinned(pinnable ? 0 : null, [SCRIPT, 'echo', String(port)]);
  const server = startProcess('vm-probe-echo', command, args, { logDir: ctx.logDir });
  try {
    await waitForPort(port, server);
    const trip = async (cpu) => {
      const [cmd, a] = pinned(cpu, [SCRIPT, 'ping', String(port), String(ROUND_TRIPS)]);
      return JSON.parse(await runToCompletion('vm-probe-ping', cmd, a));
    };
    const oneCpu = pinnable ? await trip(0) : null;
    const twoCpus = pinnable ? await trip(1) : null;
    const unpinned = pinnable ? null : await trip(null);
    const wakeResult = JSON.parse(
      await runToCompletion('vm-probe-wake', process.execPath, [SCRIPT, 'wake', String(WAKES)]),
    );
    return {
      roundTrip: { oneCpu, twoCpus, unpinned },
      work: { ...wakeResult, ratio: wakeResult.afterSleepUs / wakeResult.warmUs },
    };
  } finally {
    await server.stop();
  }
}

if (process.argv[1] === SCRIPT) {
  const [role, a, b] = process.argv.slice(2);
  if (role === 'echo') echo(Number(a));
  else if (role === 'ping') await ping(Number(a), Number(b));
  else if (role === 'wake') wake(Number(a));
  else throw new Error(`vm-probe: unknown role ${role}`);
}
