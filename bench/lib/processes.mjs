// Starts the benchmark's child processes and guarantees they stop: at the end, on an error and on
// Ctrl-C. It also finds free ports and waits for listeners; it does not know what the children are.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
const cleanups = [];
/**
 * Set by the first stopAll() and never cleared: the run is ending (finished, failed or Ctrl-C). A
 * start still in flight then must not leave a child behind that nobody stops and that keeps Node
 * (and the caller's `flock`) alive, so startProcess and runToCompletion refuse and track() kills.
 */
let stopping = false;

const refusal = (name) => new Error(`${name} not started: the bench is stopping`);

/** Registers `fn` (may be async) to run once after every child has stopped: dropping a database, say. */
export function addCleanup(fn) {
  cleanups.push(fn);
}

/** Runs the registered clean-ups, newest first; a failing one is reported and the rest still run. */
export async function runCleanups() {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`bench: clean-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

/** A port the kernel says is free now (a tiny race with other programs is accepted). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `command args` with its output in `<logDir>/<name>.log`. Returns
 * { name, pid, child, logFile, exited: Promise<code>, stop(), logTail() }.
 */
export function startProcess(name, command, args, { logDir, env, cwd } = {}) {
  if (stopping) throw refusal(name);
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, cwd });
  closeSync(fd);
  return Object.assign(track(name, child), { logFile, logTail: (lines = 20) => tail(logFile, lines) });
}

/**
 * Runs `command args` to completion (a measuring child such as the latency probe) and resolves to
 * its stdout; rejects on a non-zero exit or after `timeoutMs`. Stopped with the rest on Ctrl-C.
 */
export function runToCompletion(name, command, args, { env, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    if (stopping) return reject(refusal(name));
    const child = execFile(
      command,
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${name} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      },
    );
    track(name, child);
  });
}

/**
 * Registers a child started elsewhere (the load generator) so that it is stopped with the rest; a
 * child registered once stopping has begun is stopped at once.
 */
export function track(name, child) {
  const proc = {
    name,
    pid: child.pid,
    child,
    exitCode: null,
    logTail: () => '',
    exited: new Promise((resolve) => {
      const done = (code) => {
        children.delete(proc);
        proc.exitCode = code;
        resolve(code);
      };
      child.once('exit', (code, signal) => done(code ?? signal));
      child.once('error', (err) => done(err.message));
    }),
    stop: () => stopProcess(proc),
  };
  children.add(proc);
  if (stopping) void stopProcess(proc);
  return proc;
}

function tail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopProcess(proc, graceMs = 3_000) {
  if (proc.exitCode !== null) return;
  proc.child.kill('SIGTERM');
  // Unref'd: once the child has exited, the pending grace timer must not hold the run open.
  const timer = sleep(graceMs, 'timeout', { ref: false });
  if ((await Promise.race([proc.exited, timer])) === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

/**
 * Stops every child and, from then on, every child that a start still in flight registers: the
 * run is over. Resolves once none is left.
 */
export async function stopAll() {
  stopping = true;
  await stopRunning();
}

const beforeStop = [];

/** Registers `fn` to run before any stop of the children (pause.mjs resumes what it paused). */
export function beforeStopping(fn) {
  beforeStop.push(fn);
}

/** Stops every child running now; the run goes on (the machine probe after the last suite). */
export async function stopRunning() {
  for (const fn of beforeStop) fn();
  while (children.size > 0) await Promise.all([...children].map((p) => stopProcess(p)));
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects if `proc` exits or time runs out. */
export async function waitForPort(port, proc, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      throw new Error(`${proc.name} exited (${proc.exitCode}) before listening:\n${proc.logTail()}`);
    }
    if (await canConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${proc.name} did not listen on ${port} within ${timeoutMs} ms:\n${proc.logTail()}`);
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let installed = false;

/**
 * Stops every child on Ctrl-C, SIGTERM and a crash, then runs `afterSignal` (e.g. removing the temp
 * folder); SIGKILLs survivors if we exit abruptly.
 */
export function installCleanup(afterSignal = () => {}) {
  if (installed) return;
  installed = true;
  const onSignal = (signal) => {
    process.stderr.write(`\nbench: ${signal}, stopping ${children.size} process(es)\n`);
    stopAll()
      .then(runCleanups)
      .then(afterSignal)
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const p of children) p.child.kill('SIGKILL');
  });
}
