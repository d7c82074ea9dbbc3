#!/usr/bin/env node
// `npm run bench`: starts the upstreams and every contender, checks each answers correctly, times
// them in interleaved rounds and prints a Markdown table (JSON kept in bench/results/). See README.md.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTENDERS } from './lib/contenders/index.mjs';
import { parseOptions, USAGE } from './lib/options.mjs';
import { peakRssBytes } from './lib/proc-stats.mjs';
import { installCleanup, startProcess, stopAll } from './lib/processes.mjs';
import { collectProfiles } from './lib/profiles.mjs';
import { judgeTargets, renderMarkdown, writeJson } from './lib/report.mjs';
import { runThroughput } from './lib/suites/throughput.mjs';
import { findTool, toolVersion } from './lib/tools.mjs';
import { startUpstreams } from './lib/upstreams.mjs';

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(BENCH_DIR, '..');

/** Targets from the issues, judged on the loaded ratios. Add one line per new target. */
const TARGETS = [
  {
    contender: 'portcullis-public',
    reference: 'forwarder',
    min: 0.9,
    label: 'portcullis-public / forwarder req/s',
  },
];

const progress = (text) => process.stderr.write(`bench: ${text}\n`);

function selectContenders(opts) {
  if (!opts.only) return CONTENDERS;
  const names = new Set(CONTENDERS.map((c) => c.name));
  const unknown = opts.only.filter((n) => !names.has(n));
  if (unknown.length)
    throw new Error(`unknown contender(s) ${unknown.join(', ')}; known: ${[...names].join(', ')}`);
  return CONTENDERS.filter((c) => opts.only.includes(c.name));
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

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) return void process.stdout.write(USAGE);
  if (opts.list) {
    for (const c of CONTENDERS) process.stdout.write(`${c.name.padEnd(20)} ${c.label}\n`);
    return;
  }
  const meta = { ...describeMachine(opts), upstream: opts.upstream };
  const tmpDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  installCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));
  const profileDir = join(BENCH_DIR, 'results', `profiles-${meta.startedAt.replaceAll(':', '-')}`);
  const ctx = {
    root: ROOT,
    tmpDir,
    logDir: tmpDir,
    progress,
    upstreams: new Map(),
    target: null,
    spawnNode(name, script, args, { cwd } = {}) {
      const prof = opts.cpuProf.has(name) ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, name)] : [];
      return startProcess(name, process.execPath, [...prof, script, ...args], { logDir: tmpDir, cwd });
    },
  };
  let ok = false;
  try {
    const selected = selectContenders(opts);
    const needed = new Set(selected.filter((c) => c.kind === 'direct').map((c) => c.upstream));
    if (selected.some((c) => c.kind !== 'direct')) needed.add(opts.upstream);
    progress(`upstreams: ${[...needed].join(', ')}; logs in ${tmpDir}`);
    ctx.upstreams = await startUpstreams([...needed], ctx);
    ctx.target = ctx.upstreams.get(opts.upstream) ?? null;

    const entries = [];
    for (const contender of selected) {
      const reason = contender.unavailable(ctx);
      if (reason) {
        progress(`skipping ${contender.name}: ${reason}`);
        continue;
      }
      const instance = await contender.start(ctx);
      await contender.check(instance, ctx);
      progress(`${contender.name} ready at ${instance.url} (pid ${instance.pid}), check passed`);
      entries.push({ contender, instance });
    }
    if (entries.length === 0) throw new Error('no contender could run');

    const references = { direct: `direct-${opts.upstream}`, forwarder: 'forwarder' };
    const throughput = await runThroughput(entries, opts, references, `direct-${opts.upstream}`, ctx);
    const peakRss = Object.fromEntries(entries.map((e) => [e.contender.name, peakRssBytes(e.instance.pid)]));
    meta.loadavgAtEnd = loadavg();

    await stopAll();
    const profiles = opts.cpuProf.size > 0 ? collectProfiles(profileDir) : [];
    const verdicts = judgeTargets(TARGETS, throughput);
    const labels = Object.fromEntries(entries.map((e) => [e.contender.name, e.contender.label]));
    const out =
      opts.out ??
      join(BENCH_DIR, 'results', `${meta.startedAt.replaceAll(':', '-')}${opts.quick ? '-quick' : ''}.json`);
    writeJson(out, {
      meta,
      options: { ...opts, cpuProf: [...opts.cpuProf] },
      throughput,
      peakRss,
      verdicts,
      profiles,
    });
    process.stdout.write(renderMarkdown({ meta, throughput, peakRss, verdicts, labels }));
    for (const p of profiles) process.stdout.write(`\n${p.markdown}`);
    progress(`results written to ${out}`);
    ok = true;
  } finally {
    await stopAll();
    if (ok) rmSync(tmpDir, { recursive: true, force: true });
    else progress(`failed; process logs kept in ${tmpDir}`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
