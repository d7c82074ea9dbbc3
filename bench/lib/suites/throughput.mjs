// The throughput suite: interleaved rounds at N connections (req/s, latency, errors, CPU of the
// contender), then interleaved rounds at 1 connection (latency added per hop), each timed window right
// after a warm-up of its own. Ratios are taken round by round against reference contenders and reduced
// to medians. It prints nothing but progress.
import { runLoad } from '../load.mjs';
import { pauseTrees } from '../pause.mjs';
import { cpuSeconds, minorFaults } from '../proc-stats.mjs';
import { median, roundOrder } from '../stats.mjs';

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });

/**
 * What each request of one timed window carries: the contender's tokens, else the run's padding of the
 * same size. A contender whose requests are good once (DPoP proofs) makes them for each window with
 * `instance.loadWindow({ durationS, connections })` → { headers, done(result) }, before the window's
 * clock and CPU figures start.
 */
async function loadOf(entry, load, ctx) {
  const { instance, contender } = entry;
  const own = instance.loadWindow ? await instance.loadWindow(load, ctx) : null;
  return {
    headers: own?.headers ?? instance.headers ?? ctx.defaultHeaders,
    wrkLua: own ? undefined : (instance.wrkLua ?? contender.wrkLua),
    done: own?.done ?? (() => {}),
  };
}

/** Runs one window of `load` against the contender; a request list that ran out fails the run. */
async function runWindow(entry, load, ctx, around = {}) {
  const { done, ...requests } = await loadOf(entry, load, ctx);
  around.before?.();
  const result = await runLoad({ ...load, url: entry.instance.url, ...requests, tmpDir: ctx.tmpDir });
  around.after?.();
  done(result);
  if (result.overruns > 0)
    throw new Error(
      `${entry.contender.name}: ${result.overruns} requests ran past the end of the window's one-use request ` +
        `list (${result.requests} sent in ${load.durationS} s); they went without credentials (401) and would ` +
        'skew the figures',
    );
  return result;
}

async function measure(entry, load, ctx) {
  const { instance } = entry;
  let cpu0;
  let cpu1;
  let faults0;
  let faults1;
  let startUs;
  let endUs;
  const result = await runWindow(entry, load, ctx, {
    before() {
      faults0 = minorFaults(instance.pid);
      cpu0 = cpuSeconds(instance.pid);
      startUs = Number(process.hrtime.bigint() / 1000n);
    },
    after() {
      cpu1 = cpuSeconds(instance.pid);
      faults1 = minorFaults(instance.pid);
      endUs = Number(process.hrtime.bigint() / 1000n);
    },
  });
  // For --cpu-prof: the profile summary counts only what happened while this contender was timed.
  ctx.timedWindows?.[entry.contender.name]?.push([startUs, endUs]);
  const cpuS = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
  return {
    ...result,
    cpuS,
    // Per answer that was not an error, as req/s counts them.
    cpuUsPerReq: cpuS === null || result.ok === 0 ? null : (cpuS * 1e6) / result.ok,
    // Diagnostic (JSON only): the kernel handing the process memory anew, e.g. after its heap shrank while idle.
    minorFaultsPerReq:
      faults0 === null || faults1 === null || result.requests === 0
        ? null
        : (faults1 - faults0) / result.requests,
  };
}

/**
 * A warm-up then a timed window. A window that completed no request at all (the express stack's, a few
 * times, no error reported) is not a figure: it is run again once, marked `retried`; a second empty one
 * is marked `empty` and left out of every median and ratio (the report lists both). The errors of the
 * window run again stay counted (`errorCount`): a hang is not hidden by the retry, and the targets
 * judge a contender with errors MISSED (targets.mjs).
 */
async function measuredWindow(entry, load, warmupS, ctx) {
  let discarded = 0;
  for (let attempt = 0; ; attempt++) {
    if (warmupS > 0) await runWindow(entry, { ...load, durationS: warmupS }, ctx);
    const r = await measure(entry, load, ctx);
    const counted = { ...r, errorCount: r.errorCount + discarded };
    if (r.requests > 0) return attempt === 0 ? counted : { ...counted, retried: attempt };
    const why = `${entry.contender.name}: a ${load.durationS} s window completed no request (errors: ${JSON.stringify(r.errors)})`;
    if (attempt > 0) {
      ctx.progress(`${why}, twice in a row; this round is left out`);
      return { ...counted, retried: attempt, empty: true };
    }
    ctx.progress(`${why}; running it again`);
    discarded += r.errorCount + 1;
  }
}

/** The rounds that are figures: an empty window (measuredWindow) is not. */
const counted = (runs) => runs.filter((r) => !r.empty);

/**
 * Runs `rounds` interleaved rounds of `load`; returns name → list of per-round results. Each timed window comes
 * right after `warmupS` of the same load on the same contender, not recorded: in a full run each
 * contender idles a minute or more through the others' windows, long enough for V8's memory reducer
 * to discard its optimized code (bench/README.md), and the figures are meant to be of warm processes.
 * The other proxy contenders are stopped (SIGSTOP) for the warm-up and the window: each is timed alone,
 * without the others' idle wake-ups and collections (bench/README.md, "How a run goes").
 */
async function series(entries, load, { rounds, warmupS, label }, ctx) {
  const byName = new Map(entries.map((e) => [e.contender.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const entry of roundOrder(entries, round)) {
      // The direct contenders are the upstreams: they stay up.
      const others = entries.filter((e) => e !== entry && e.contender.kind === 'proxy');
      const resume = pauseTrees(others.map((e) => e.instance.pid));
      let r;
      try {
        r = await measuredWindow(entry, load, warmupS, ctx);
      } finally {
        resume();
      }
      byName.get(entry.contender.name).push({ round, ...r });
      ctx.progress(
        `${label} round ${round + 1}/${rounds} ${entry.contender.name}: ${fmt(r.rps)} req/s, ` +
          `p50 ${fmt(r.p50Ms, 3)} ms, p99 ${fmt(r.p99Ms, 3)} ms${r.errorCount ? `, ${r.errorCount} errors` : ''}`,
      );
    }
  }
  return byName;
}

/** Per-round figures of `a` combined with the same round's figure of `b`; null without `b`. */
function pairs(a, b, combine) {
  if (!a || !b) return null;
  return a
    .map((r, i) => (b[i] && !r.empty && !b[i].empty ? combine(r, b[i]) : null))
    .filter((v) => v !== null && Number.isFinite(v));
}

const paired = (a, b, combine) => median(pairs(a, b, combine) ?? []);

/** Throughput and CPU-per-request ratios of `runs` to `base`, medians of per-round ratios. */
export function ratioTo(runs, base) {
  const rps = pairs(runs, base, (r, b) => r.rps / b.rps);
  if (rps === null) return null;
  return {
    rps: median(rps),
    rpsMin: rps.length ? Math.min(...rps) : null,
    rpsMax: rps.length ? Math.max(...rps) : null,
    cpuPerReq: paired(runs, base, (r, b) => r.cpuUsPerReq / b.cpuUsPerReq),
    cpuPerReqRange: range(pairs(runs, base, (r, b) => r.cpuUsPerReq / b.cpuUsPerReq)),
  };
}

const range = (xs) => (xs?.length ? [Math.min(...xs), Math.max(...xs)] : null);

/** Ratios of contender `a` to contender `b` from a finished throughput result, or null. */
export function ratioBetween(throughput, a, b) {
  const row = (name) => throughput.rows.find((r) => r.name === name)?.loaded.rounds;
  return ratioTo(row(a), row(b));
}

function summarise(runs) {
  const pick = (key) => median(counted(runs).map((r) => r[key]));
  return {
    rps: pick('rps'),
    p50Ms: pick('p50Ms'),
    p99Ms: pick('p99Ms'),
    p999Ms: pick('p999Ms'),
    cpuS: pick('cpuS'),
    cpuUsPerReq: pick('cpuUsPerReq'),
    errors: runs.reduce((sum, r) => sum + r.errorCount, 0),
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    /** Rounds left out (no request completed twice in a row). */
    emptyRounds: runs.filter((r) => r.empty).length,
  };
}

/**
 * @param entries [{ contender, instance }] in table order
 * @param opts { loader, connections, threads, durationS, rounds, warmupS, unloadedS, unloadedRounds }
 * @param references { label → contender name } for ratios, e.g. { direct: 'direct-nginx' }; each row's
 *   ratios[label] is { rps, rpsMin, rpsMax, cpuPerReq } or null when the reference did not run
 * @param baseline name of the direct contender the proxies forward to (added latency is measured over it)
 */
export async function runThroughput(entries, opts, references, baseline, ctx) {
  const loaded = {
    loader: opts.loader,
    connections: opts.connections,
    threads: opts.threads,
    durationS: opts.durationS,
  };
  const loadedRuns = await series(
    entries,
    loaded,
    { rounds: opts.rounds, warmupS: opts.warmupS, label: `${opts.connections} conn` },
    ctx,
  );

  const idle = { ...loaded, connections: 1, threads: 1, durationS: opts.unloadedS };
  const idleRounds = { rounds: opts.unloadedRounds, warmupS: opts.warmupS, label: '1 conn' };
  const idleRuns = opts.unloadedRounds > 0 ? await series(entries, idle, idleRounds, ctx) : new Map();

  const rows = entries.map(({ contender }) => {
    const runs = loadedRuns.get(contender.name);
    const ratios = {};
    for (const [label, ref] of Object.entries(references)) {
      ratios[label] = ratioTo(runs, loadedRuns.get(ref));
    }
    const idleOwn = idleRuns.get(contender.name);
    const idleBase = contender.kind === 'proxy' ? idleRuns.get(baseline) : null;
    const unloaded = idleOwn
      ? {
          p50Ms: median(counted(idleOwn).map((r) => r.p50Ms)),
          p99Ms: median(counted(idleOwn).map((r) => r.p99Ms)),
          addedP50Ms: paired(idleOwn, idleBase, (r, base) => r.p50Ms - base.p50Ms),
          addedP99Ms: paired(idleOwn, idleBase, (r, base) => r.p99Ms - base.p99Ms),
          addedP50Range: range(pairs(idleOwn, idleBase, (r, base) => r.p50Ms - base.p50Ms)),
          addedP99Range: range(pairs(idleOwn, idleBase, (r, base) => r.p99Ms - base.p99Ms)),
          rounds: idleOwn,
        }
      : null;
    return {
      name: contender.name,
      label: contender.label,
      kind: contender.kind,
      loaded: { ...summarise(runs), ratios, rounds: runs },
      unloaded,
    };
  });
  return { settings: { ...opts, references, baseline }, rows };
}
