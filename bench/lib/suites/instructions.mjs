// The instructions suite: each contender in turn under callgrind, a fixed number of requests after
// a warm-up, and the instructions its process executed per request (all threads). Unlike requests/s,
// the figure does not move with the load on the machine: it answers "how much work does a request
// cost" to within about a percent, where the throughput suite answers "how fast" within ±30 %.
import { join } from 'node:path';
import { callgrindUnavailable, countFrom, dumpCount, underCallgrind } from '../callgrind.mjs';
import { sendFixed } from '../fixed-load.mjs';
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
    ? { warmup: 2_000, windows: 3, requests: 500, connections: 8, users: 20 }
    : { warmup: 30_000, windows: 5, requests: 5_000, connections: 8, users: 200 };
}

/** One contender: start it under callgrind, prepare and check it, warm it up, count `windows` windows. */
async function measure(contender, ctx, s) {
  const outPrefix = join(ctx.tmpDir, `callgrind-${contender.name}`);
  const procs = [];
  const vctx = {
    ...ctx,
    opts: { ...ctx.opts, users: s.users },
    // Under valgrind a gateway takes tens of seconds to start.
    startTimeoutMs: 240_000,
    spawnNode(name, script, args, { cwd, env, nodeFlags = [] } = {}) {
      const [command, argv] = underCallgrind(outPrefix, process.execPath, [...nodeFlags, script, ...args]);
      const proc = startProcess(`${name}-callgrind`, command, argv, { logDir: ctx.tmpDir, cwd, env });
      procs.push(proc);
      return proc;
    },
  };
  try {
    const instance = await contender.start(vctx);
    await contender.prepare?.(instance, vctx);
    await contender.check(instance, vctx);
    const load = {
      url: instance.url,
      connections: s.connections,
      headers: instance.headers ?? ctx.defaultHeaders,
    };
    await sendFixed({ ...load, count: s.warmup });
    await countFrom(instance.pid);
    const perRequest = [];
    for (let w = 1; w <= s.windows; w++) {
      await sendFixed({ ...load, count: s.requests });
      perRequest.push((await dumpCount(instance.pid, outPrefix, w)) / s.requests);
    }
    return perRequest;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/**
 * Runs the suite over `contenders` (entries of CONTENDERS, in INSTRUCTION_CONTENDERS order). Returns
 * { settings, rows: [{ name, label, perRequest (the median of the windows after the first), windows }],
 * skipped: [{ name, reason }] } or { unavailable: reason } when valgrind is missing.
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
  return { settings: s, rows, skipped };
}

/** The suite's Markdown: instructions per request and each ÷ the first row (the forwarder). */
export function instructionsTable(result) {
  const ref = result.rows[0];
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  const lines = [
    '| contender | instructions per request | ÷ ' + (ref?.name ?? '—') + ' | windows (first left out) |',
    '| --- | ---: | ---: | --- |',
  ];
  for (const r of result.rows) {
    lines.push(
      `| ${r.name} | ${fmt(r.perRequest)} | ${(r.perRequest / ref.perRequest).toFixed(3)}× | ${r.windows.map(fmt).join(', ')} |`,
    );
  }
  return lines.join('\n');
}
