#!/usr/bin/env node
// `npm run bench`: starts the upstreams and every contender, checks each answers correctly, times
// them in interleaved rounds and prints a Markdown table (JSON kept in bench/results/). See README.md.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_UA } from './lib/accounts.mjs';
import { CONTENDERS } from './lib/contenders/index.mjs';
import { ContenderUnavailable } from './lib/contenders/unavailable.mjs';
import { parseOptions, USAGE } from './lib/options.mjs';
import { pauseTrees } from './lib/pause.mjs';
import { peakRssBytes } from './lib/proc-stats.mjs';
import { installCleanup, runCleanups, startProcess, stopAll, stopRunning } from './lib/processes.mjs';
import { collectProfiles } from './lib/profiles.mjs';
import { redisServerPath, startRedis } from './lib/redis.mjs';
import { renderMarkdown, writeJson } from './lib/report.mjs';
import { INSTRUCTION_CONTENDERS, runInstructions } from './lib/suites/instructions.mjs';
import { runLogins } from './lib/suites/logins.mjs';
import { runStores } from './lib/suites/stores.mjs';
import { runStreaming } from './lib/suites/streaming.mjs';
import { ratioBetween, runThroughput } from './lib/suites/throughput.mjs';
import { judgeTargets, TARGETS } from './lib/targets.mjs';
import { findTool, toolVersion } from './lib/tools.mjs';
import { startUpstreams } from './lib/upstreams.mjs';
import { probeMachine } from './lib/vm-probe.mjs';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(BENCH_DIR, '..');

const started = performance.now();
const progress = (text) =>
  process.stderr.write(
    `bench [${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s]: ${text}\n`,
  );

/** Peer stacks: the loaded table gets a `× name` column for each that ran. */
const PEER_REFERENCES = ['fastify', 'express', 'express-readme'];

function selectContenders(opts) {
  const names = new Set(CONTENDERS.map((c) => c.name));
  const unknown = (opts.only ?? []).filter((n) => !names.has(n));
  if (unknown.length)
    throw new Error(`unknown contender(s) ${unknown.join(', ')}; known: ${[...names].join(', ')}`);
  const selected = opts.only
    ? CONTENDERS.filter((c) => opts.only.includes(c.name))
    : CONTENDERS.filter((c) => opts.all || !c.extra?.(opts));
  return withTwins(selected, opts);
}

/**
 * A quick run (CI's harness check) counts only these: the plain forwarder, and the contender whose path
 * takes every part of the harness (users, tokens, Redis). The others cost a minute each under valgrind.
 */
const QUICK_INSTRUCTION_CONTENDERS = ['forwarder', 'portcullis-redis'];

/**
 * The instructions suite's contenders, in its order: those of INSTRUCTION_CONTENDERS that --only keeps
 * (without --only, a quick run keeps QUICK_INSTRUCTION_CONTENDERS).
 */
function selectInstructionContenders(opts) {
  const keep = (n) =>
    opts.only === null ? !opts.quick || QUICK_INSTRUCTION_CONTENDERS.includes(n) : opts.only.includes(n);
  const selected = INSTRUCTION_CONTENDERS.filter(keep).map((n) => CONTENDERS.find((c) => c.name === n));
  return withTwins(selected, opts);
}

/** With --compare-build, each Portcullis contender followed by its twin from the other build. */
function withTwins(selected, opts) {
  return opts.compareBuild === null
    ? selected
    : selected.flatMap((c) => [c, ...baseTwin(c, opts.compareBuild)]);
}

/**
 * --compare-build: the same Portcullis contender started from another checkout's dist/, timed next to
 * it in every round, so two builds are compared under the same load, machine state and upstream.
 */
function baseTwin(contender, root) {
  if (!contender.name.startsWith('portcullis-')) return [];
  return [
    {
      ...contender,
      name: `${contender.name}-base`,
      label: `${contender.label}; the build in ${root}`,
      start: (ctx) => contender.start({ ...ctx, root, variant: '-base' }),
    },
  ];
}

function describeMachine(opts) {
  const git = (args) => {
    try {
      return execFileSync('git', args, {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return null;
    }
  };
  const loaderVersion =
    opts.loader === 'wrk' ? (toolVersion(findTool('wrk'), ['-v'])?.split(' [')[0] ?? 'wrk') : 'autocannon';
  return {
    startedAt: new Date().toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    quick: opts.quick,
    cpus: availableParallelism(),
    loadavgAtStart: loadavg(),
    node: process.version,
    loaderVersion,
    nginx: findTool('nginx') ? toolVersion(findTool('nginx'), ['-v']) : null,
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
  };
}

/**
 * The padding sent to contenders that take no token: a header of a token's size, different on each
 * request, so that every contender gets the same request bytes from the same load-generator path.
 */
function defaultHeaders(ctx, users) {
  const file = join(ctx.tmpDir, 'padding.txt');
  const lines = Array.from({ length: users }, () => randomBytes(390).toString('base64url'));
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, header: 'X-Bench-Padding', prefix: 'Bearer ', userAgent: BENCH_UA };
}

/**
 * Issue 9: DPoP binding (`portcullis-dpop`) next to user-agent binding (`portcullis-memory`, the same
 * gateway otherwise): the paired req/s and CPU µs/req ratios, and each one's CPU µs/req; null unless both ran.
 */
function dpopCost(throughput) {
  const ratios = ratioBetween(throughput, 'portcullis-dpop', 'portcullis-memory');
  if (ratios === null) return null;
  const cpu = (name) => throughput.rows.find((r) => r.name === name).loaded.cpuUsPerReq;
  return { ...ratios, cpuUsPerReq: { dpop: cpu('portcullis-dpop'), userAgent: cpu('portcullis-memory') } };
}

/** --compare-build: each Portcullis contender ÷ its twin from the other build, round by round. */
function buildComparison(throughput, dir) {
  const rows = throughput.rows
    .filter((r) => r.name.endsWith('-base'))
    .map((twin) => {
      const name = twin.name.slice(0, -'-base'.length);
      return { name, ratios: ratioBetween(throughput, name, twin.name) };
    })
    .filter((r) => r.ratios !== null);
  return { dir, rows };
}

/** The contenders that need nginx, which a machine may lack (--require-all lets them be skipped). */
const NGINX_CONTENDERS = new Set(['direct-nginx', 'nginx']);

/** Starts `contender`; resolves to its instance, or to { reason } when it cannot run here. */
async function startOne(contender, ctx) {
  const reason = await contender.unavailable(ctx);
  if (reason) return { reason };
  try {
    return { instance: await contender.start(ctx) };
  } catch (err) {
    if (err instanceof ContenderUnavailable) return { reason: err.message };
    throw err;
  }
}

/**
 * Like Promise.all, but it settles only once every task has: on the first failure it stops every
 * child (so the tasks still starting or preparing fail fast instead of running on, and any child
 * they spawn later is refused), waits for the rest, then throws that first failure.
 */
async function allOrStop(tasks) {
  let first = null;
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      Promise.resolve(task).catch((err) => {
        first ??= { err, stopped: stopAll() };
        throw err;
      }),
    ),
  );
  if (!first) return settled.map((s) => s.value);
  await first.stopped;
  throw first.err;
}

/**
 * Starts the selected contenders and prepares them (creating users is slow and mostly waiting),
 * all side by side, then checks each in turn. Returns { entries, skipped } in table order.
 */
async function startContenders(selected, ctx) {
  const started = await allOrStop(selected.map((c) => startOne(c, ctx)));
  const entries = [];
  const skipped = [];
  selected.forEach((contender, i) => {
    const { instance, reason } = started[i];
    if (reason) {
      progress(`skipping ${contender.name}: ${reason}`);
      skipped.push({ name: contender.name, reason });
    } else entries.push({ contender, instance });
  });
  await allOrStop(entries.map(({ contender, instance }) => contender.prepare?.(instance, ctx)));
  for (const { contender, instance } of entries) {
    await contender.check(instance, ctx);
    progress(`${contender.name} ready at ${instance.url} (pid ${instance.pid}), check passed`);
  }
  return { entries, skipped };
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) return void process.stdout.write(USAGE);
  if (opts.list) {
    for (const c of CONTENDERS) process.stdout.write(`${c.name.padEnd(20)} ${c.label}\n`);
    return;
  }
  const meta = { ...describeMachine(opts), upstream: opts.upstream, gatewayNodeFlags: opts.gatewayNodeFlags };
  const tmpDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  // BENCH_KEEP_TMP=1 keeps the process logs and callgrind dumps (for callgrind_annotate).
  const keepTmp = process.env.BENCH_KEEP_TMP === '1';
  if (!keepTmp) installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));
  const profileDir = join(BENCH_DIR, 'results', `profiles-${meta.startedAt.replaceAll(':', '-')}`);
  const ctx = {
    root: ROOT,
    tmpDir,
    logDir: tmpDir,
    opts,
    progress,
    upstreams: new Map(),
    target: null,
    redis: null,
    redisUnavailable: null,
    timedWindows: Object.fromEntries([...opts.cpuProf].map((name) => [name, []])),
    spawnNode(name, script, args, { cwd, env, nodeFlags = [] } = {}) {
      const prof = opts.cpuProf.has(name) ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, name)] : [];
      const argv = [...nodeFlags, ...prof, script, ...args];
      return startProcess(name, process.execPath, argv, { logDir: tmpDir, cwd, env });
    },
  };
  let ok = false;
  try {
    // A diagnostic: a probe that cannot run (no second CPU for taskset, say) costs the report its line only.
    const probe = () =>
      probeMachine(ctx, meta.cpus).catch((err) => {
        progress(`machine probe failed: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      });
    progress('machine: probing loopback round trips and wake-up cost');
    meta.machineAtStart = await probe();
    const runThroughputSuite = opts.suites.has('throughput');
    const selected = runThroughputSuite ? selectContenders(opts) : [];
    const needed = new Set(selected.filter((c) => c.kind === 'direct').map((c) => c.upstream));
    needed.add(opts.upstream);
    progress(`upstreams: ${[...needed].join(', ')}; logs in ${tmpDir}`);
    ctx.upstreams = await startUpstreams([...needed], ctx);
    ctx.target = ctx.upstreams.get(opts.upstream) ?? null;
    if (redisServerPath()) ctx.redis = await startRedis(ctx);
    else ctx.redisUnavailable = 'redis-server not on PATH';
    ctx.defaultHeaders = defaultHeaders(ctx, opts.users);

    const { entries, skipped } = await startContenders(selected, ctx);
    // CI: a contender that could not run means the harness is broken, not that the machine lacks a tool
    // (nginx is optional: without it the node upstream is the direct one).
    const missing = skipped.filter((s) => !NGINX_CONTENDERS.has(s.name));
    if (opts.requireAll && missing.length > 0)
      throw new Error(`--require-all: ${missing.map((s) => `${s.name} (${s.reason})`).join('; ')}`);
    if (runThroughputSuite && entries.length === 0) throw new Error('no contender could run');

    const results = {
      throughput: null,
      workers: null,
      dpop: null,
      builds: null,
      logins: null,
      streaming: null,
      stores: null,
      instructions: null,
    };
    let peakRss = {};
    if (runThroughputSuite) {
      const ran = new Set(entries.map((e) => e.contender.name));
      const references = { direct: `direct-${opts.upstream}`, forwarder: 'forwarder' };
      for (const peer of PEER_REFERENCES) if (ran.has(peer)) references[peer] = peer;
      results.throughput = await runThroughput(entries, opts, references, `direct-${opts.upstream}`, ctx);
      peakRss = Object.fromEntries(entries.map((e) => [e.contender.name, peakRssBytes(e.instance.pid)]));
      results.workers = ratioBetween(results.throughput, 'portcullis-redis-2w', 'portcullis-redis');
      results.dpop = dpopCost(results.throughput);
      if (opts.compareBuild !== null) results.builds = buildComparison(results.throughput, opts.compareBuild);
      // Paused for the suites that follow, which start processes of their own (resumed before stopping).
      pauseTrees(entries.filter((e) => e.contender.kind === 'proxy').map((e) => e.instance.pid));
    }
    if (opts.suites.has('logins')) results.logins = await runLogins(ctx, opts);
    if (opts.suites.has('streaming')) results.streaming = await runStreaming(ctx, opts);
    if (opts.suites.has('stores')) results.stores = await runStores(ctx, opts);
    if (opts.suites.has('instructions'))
      results.instructions = await runInstructions(selectInstructionContenders(opts), ctx, opts);
    meta.loadavgAtEnd = loadavg();
    // With every contender, upstream and Redis stopped: the machine, not their idle timers.
    await stopRunning();
    meta.machineAtEnd = await probe();

    await stopAll();
    await runCleanups();
    const profiles = opts.cpuProf.size > 0 ? collectProfiles(profileDir, ctx.timedWindows) : [];
    const verdicts = judgeTargets(TARGETS, results);
    const labels = Object.fromEntries(entries.map((e) => [e.contender.name, e.contender.label]));
    const out =
      opts.out ??
      join(BENCH_DIR, 'results', `${meta.startedAt.replaceAll(':', '-')}${opts.quick ? '-quick' : ''}.json`);
    writeJson(out, {
      meta,
      options: { ...opts, cpuProf: [...opts.cpuProf], suites: [...opts.suites] },
      ...results,
      peakRss,
      skipped,
      verdicts,
      profiles,
    });
    process.stdout.write(renderMarkdown({ meta, ...results, peakRss, skipped, verdicts, labels }));
    for (const p of profiles) process.stdout.write(`\n${p.markdown}`);
    progress(`results written to ${out}`);
    ok = true;
  } finally {
    await stopAll();
    await runCleanups();
    if (ok && !keepTmp) rmSync(tmpDir, { recursive: true, force: true });
    else progress(`${ok ? 'done' : 'failed'}; process logs kept in ${tmpDir}`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
  // Every child has been stopped by now, so nothing should keep Node alive; if something leaked
  // anyway, say what and exit rather than hold the caller's `flock /tmp/bench.lock` indefinitely.
  setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    process.stderr.write(`bench: still running 10 s after failing (${left.join(', ')}); exiting\n`);
    process.exit(1);
  }, 10_000).unref();
});
