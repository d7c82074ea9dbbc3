// The instructions suite: each contender in turn under callgrind, a fixed number of requests after
// a warm-up, and the instructions its process executed per request (all threads). Unlike requests/s,
// the figure does not move with the load on the machine: it answers "how much work does a request
// cost" to within about a percent, where the throughput suite answers "how fast" within ±30 %.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_UA, provisionUsers } from '../accounts.mjs';
import { callgrindUnavailable, countFrom, dumpCount, underCallgrind } from '../callgrind.mjs';
import { FAST_ARGON2, startGateway } from '../contenders/portcullis.mjs';
import { getRequests, loginRequests, sendFixed } from '../fixed-load.mjs';
import { startProcess } from '../processes.mjs';
import { median } from '../stats.mjs';

/** Measured in this order; the first is the reference of the ratios. */
export const INSTRUCTION_CONTENDERS = [
  'forwarder',
  'forwarder-headers',
  'portcullis-public',
  'portcullis-memory',
  'portcullis-redis',
];

export function instructionSettings(opts) {
  return opts.quick
    ? {
        // Only enough to check the harness (CI's --quick; callgrind runs the code ~50× slower).
        warmup: 500,
        windows: 2,
        requests: 300,
        connections: 8,
        users: 20,
        loginWarmup: 60,
        logins: 40,
        loginConnections: 4,
        // CI's harness check: a window that still has failed answers after the recounts is kept (it
        // must be mostly answered), rather than failing a run whose figures nobody judges.
        keepFailedWindows: true,
      }
    : {
        warmup: 30_000,
        windows: 5,
        requests: 5_000,
        connections: 8,
        users: 200,
        loginWarmup: 3_000,
        logins: 500,
        // Fewer logins per turn of the event loop: under valgrind a turn with eight could outlast the
        // state store's 1 s timeout.
        loginConnections: 4,
        keepFailedWindows: false,
      };
}

/**
 * The bench's context with its Node children started under callgrind (dumps at `outPrefix`), each
 * pushed on `procs` to be stopped after; `byThread`: one count per thread.
 */
function callgrindContext(ctx, s, outPrefix, procs, { byThread = false } = {}) {
  // A folder of its own: the throughput suite's contender of the same name keeps its database (and
  // its users) in ctx.tmpDir/<name>.
  const tmpDir = join(ctx.tmpDir, 'instructions');
  mkdirSync(tmpDir, { recursive: true });
  return {
    ...ctx,
    tmpDir,
    opts: { ...ctx.opts, users: s.users },
    // Under valgrind a gateway takes tens of seconds to start.
    startTimeoutMs: 240_000,
    spawnNode(name, script, args, { cwd, env, nodeFlags = [] } = {}) {
      const [command, argv] = underCallgrind(outPrefix, process.execPath, [...nodeFlags, script, ...args], {
        byThread,
      });
      const proc = startProcess(`${name}-callgrind`, command, argv, { logDir: ctx.tmpDir, cwd, env });
      procs.push(proc);
      return proc;
    },
  };
}

/** Warm-up passes at most, each a quarter of the warm-up, until one is answered 200 throughout. */
const SETTLING_PASSES = 8;

/** Counted windows that may be counted again because one of their answers failed. */
const WINDOWS_REDONE = 3;

/**
 * Warms `pid` up with `warmup` of `load`'s requests, then counts `windows` windows of `count` each:
 * the instructions per request of every window. Under valgrind the first minutes run so slowly that
 * a gateway's 1 s state-store timeout can pass (503 state_unavailable): the warm-up allows failed
 * answers, then goes on in shorter passes until one has none (a quick run, `keepFailed`, goes on after
 * SETTLING_PASSES of them if the last was mostly answered). A counted window with a failed answer
 * (a failure costs other instructions than an answer) is left out and counted again, up to
 * WINDOWS_REDONE times; then the run fails, unless `keepFailed` (quick runs) and most of the window
 * was answered: then it is kept and said so.
 */
async function countWindows(
  pid,
  outPrefix,
  load,
  { warmup, windows, count, mainThread = false, keepFailed = false, progress },
) {
  let failed = await sendFixed({ ...load, count: warmup, allowFailures: true });
  const pass = Math.ceil(warmup / 4);
  for (let passes = 0; failed > 0; passes++) {
    if (passes === SETTLING_PASSES) {
      if (!keepFailed || failed >= pass / 2)
        throw new Error(`still ${failed} failed answers after the warm-up`);
      progress(
        `instructions: ${failed} failed answers in the last warm-up pass; counting anyway (quick run)`,
      );
      break;
    }
    progress(`instructions: ${failed} failed answers while warming up; warming up again`);
    failed = await sendFixed({ ...load, count: pass, allowFailures: true });
  }
  await countFrom(pid);
  const perRequest = [];
  // Callgrind numbers its dumps 1, 2, 3…: every window is dumped (and the count reset), kept or not.
  let dumps = 0;
  let redone = 0;
  while (perRequest.length < windows) {
    const failures = await sendFixed({ ...load, count, allowFailures: true });
    const instructions = await dumpCount(pid, outPrefix, ++dumps, { mainThread });
    if (failures === 0) {
      perRequest.push(instructions / count);
      continue;
    }
    if (++redone > WINDOWS_REDONE) {
      if (keepFailed && failures < count / 2) {
        progress(`instructions: ${failures} failed answers in a counted window; kept (quick run)`);
        perRequest.push(instructions / count);
        continue;
      }
      throw new Error(
        `${failures} failed answers in a counted window, after ${WINDOWS_REDONE} windows counted again`,
      );
    }
    progress(`instructions: ${failures} failed answers in a counted window; counting it again`);
  }
  return perRequest;
}

/** One contender: start it under callgrind, prepare and check it, warm it up, count its windows. */
async function measure(contender, ctx, s) {
  const outPrefix = join(ctx.tmpDir, `callgrind-${contender.name}`);
  const procs = [];
  const vctx = callgrindContext(ctx, s, outPrefix, procs);
  try {
    const instance = await contender.start(vctx);
    await contender.prepare?.(instance, vctx);
    await contender.check(instance, vctx);
    const requests = getRequests(instance.url, instance.headers ?? ctx.defaultHeaders);
    const load = { url: instance.url, connections: s.connections, requests };
    return await countWindows(instance.pid, outPrefix, load, {
      warmup: s.warmup,
      windows: s.windows,
      count: s.requests,
      keepFailed: s.keepFailedWindows,
      progress: ctx.progress,
    });
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/**
 * A login's work on the gateway's main thread (POST /api/auth/login with the right password: limits,
 * lock, user lookup, session, tokens, login record and audit events), Redis state when the bench has
 * one, SQLite users. The hash runs in the hashing threads, left out; it is made cheap (256 KiB) so
 * that the windows take seconds.
 */
async function measureLogins(ctx, s) {
  const outPrefix = join(ctx.tmpDir, 'callgrind-logins');
  const procs = [];
  const vctx = callgrindContext(ctx, s, outPrefix, procs, { byThread: true });
  const state = ctx.redis?.url ?? 'memory';
  try {
    const gw = await startGateway(vctx, {
      name: 'instructions-logins',
      auth: 'required',
      overrides: { ...FAST_ARGON2, storage: { state } },
    });
    const users = await provisionUsers(gw.origin, { count: s.users, tag: 'instructions-logins' });
    const requests = loginRequests(gw.origin, '/api/auth/login', users, BENCH_UA);
    const load = { url: gw.url, connections: s.loginConnections, requests };
    const windows = await countWindows(gw.pid, outPrefix, load, {
      warmup: s.loginWarmup,
      windows: s.windows,
      count: s.logins,
      mainThread: true,
      keepFailed: s.keepFailedWindows,
      progress: ctx.progress,
    });
    return { state: state === 'memory' ? 'memory' : 'redis', perLogin: median(windows.slice(1)), windows };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/**
 * Runs the suite over `contenders` (entries of CONTENDERS, in INSTRUCTION_CONTENDERS order), then a
 * login's main-thread work. Returns { settings, rows: [{ name, label, perRequest (the median of the
 * windows after the first), windows }], logins: { state, perLogin, windows }, skipped: [{ name, reason }] }
 * or { unavailable: reason } when valgrind is missing.
 */
export async function runInstructions(contenders, ctx, opts) {
  const unavailable = callgrindUnavailable();
  if (unavailable !== null) {
    ctx.progress(`instructions: skipped, ${unavailable}`);
    return { unavailable };
  }
  const s = instructionSettings(opts);
  const rows = [];
  const skipped = [];
  for (const contender of contenders) {
    const reason = await contender.unavailable(ctx);
    if (reason) {
      skipped.push({ name: contender.name, reason });
      continue;
    }
    ctx.progress(`instructions: ${contender.name} under callgrind`);
    const windows = await measure(contender, ctx, s);
    // The first window after counting starts runs a third to a half higher than the rest, however
    // long the warm-up (not pinned down; the later windows agree within about a percent): it is
    // reported, never used.
    const perRequest = median(windows.slice(1));
    ctx.progress(
      `instructions: ${contender.name} ${Math.round(perRequest).toLocaleString('en-US')} per request`,
    );
    rows.push({ name: contender.name, label: contender.label, perRequest, windows });
  }
  ctx.progress('instructions: logins under callgrind (main thread)');
  const logins = await measureLogins(ctx, s);
  ctx.progress(
    `instructions: ${Math.round(logins.perLogin).toLocaleString('en-US')} per login (main thread)`,
  );
  return { settings: s, rows, logins, skipped };
}

/** The suite's Markdown: instructions per request and each ÷ the first row (the forwarder), then logins. */
export function instructionsTable(result) {
  const ref = result.rows[0];
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  const lines = [
    `| contender | instructions per request | ÷ ${ref?.name ?? '—'} | windows (first left out) |`,
    '| --- | ---: | ---: | --- |',
  ];
  for (const r of result.rows) {
    lines.push(
      `| ${r.name} | ${fmt(r.perRequest)} | ${(r.perRequest / ref.perRequest).toFixed(3)}× | ${r.windows.map(fmt).join(', ')} |`,
    );
  }
  const l = result.logins;
  lines.push(
    '',
    `A login (POST /api/auth/login, ${l.state} state, SQLite users), on the gateway's main thread: ` +
      `${fmt(l.perLogin)} instructions (windows of ${result.settings.logins}: ${l.windows.map(fmt).join(', ')}, ` +
      'the first left out; the hash, in the hashing threads, is not counted).',
  );
  return lines.join('\n');
}
