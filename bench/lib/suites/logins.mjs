// The login suite: logins/s through a gateway with the default Argon2id parameters against the raw
// hash rate of @node-rs/argon2 and npm argon2 at the same parameters (interleaved rounds, the same
// concurrency), register and login latency, and the proxied p99 with and without 50 logins in flight.

import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_UA, benchPassword, inPool, login, register, tryLogin } from '../accounts.mjs';
import { startGateway } from '../contenders/portcullis.mjs';
import { runLoad } from '../load.mjs';
import { threadCpuSeconds } from '../proc-stats.mjs';
import { freePort, runToCompletion, waitForPort } from '../processes.mjs';
import { median, percentile, roundOrder } from '../stats.mjs';
import { jsonPostLua } from '../wrk-headers.mjs';

const RATE_SCRIPT = fileURLToPath(new URL('../argon2-rate.mjs', import.meta.url));
const PROBE_SCRIPT = fileURLToPath(new URL('../latency-probe.mjs', import.meta.url));
const FLOOR_SCRIPT = fileURLToPath(new URL('../login-floor.mjs', import.meta.url));

/** The gateway's defaults (DESIGN.md, OWASP), written out so that the raw hashes use the very same. */
export const LOGIN_ARGON2 = { memory_kib: 19456, iterations: 2, parallelism: 1 };

/** Which of the two libraries the gateway depends on, read from its package.json: 'node-rs' | 'argon2' | null. */
function gatewayLibrary(root) {
  const deps = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies ?? {};
  if ('@node-rs/argon2' in deps) return 'node-rs';
  return 'argon2' in deps ? 'argon2' : null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function latencySummary(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? null,
  };
}

async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** `concurrency` login loops until `stop()` says so; returns { ok, failed, latencies, seconds }. */
export async function loginLoops(origin, users, concurrency, stop) {
  const result = { ok: 0, failed: 0, latencies: [] };
  let next = 0;
  const t0 = performance.now();
  const loop = async () => {
    while (!stop()) {
      const user = users[next++ % users.length];
      const started = performance.now();
      const r = await tryLogin(origin, user.email, user.password);
      result.latencies.push(performance.now() - started);
      if (r.status === 200) result.ok++;
      else result.failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

async function rawRate(lib, opts) {
  const { memory_kib: m, iterations: t, parallelism: p } = LOGIN_ARGON2;
  const args = [RATE_SCRIPT, lib, opts.loginConcurrency, opts.loginS, m, t, p].map(String);
  // As many hashing threads as the gateway's pool (one per core): libuv's default of four runs two
  // 19 MiB hashes per core here, about a tenth slower in all, which understated the machine's rate.
  const env = { UV_THREADPOOL_SIZE: String(Math.max(1, availableParallelism())) };
  return JSON.parse(await runToCompletion(`argon2-${lib}`, process.execPath, args, { env }));
}

/** Writes one login body (`{email, password}` JSON) per line to `file`; returns `file`. */
function writeLoginBodies(file, users) {
  writeFileSync(
    file,
    `${users.map(({ email, password }) => JSON.stringify({ email, password })).join('\n')}\n`,
  );
  return file;
}

/**
 * What keeps logins in flight: `load(connections, seconds)` → { ok, failed, seconds, latency }, a
 * different user's login each time. With wrk as the loader, wrk sends them (each body formatted once;
 * the file is written here, once per run) and the logins still hashing when it stops get 0.5 s to
 * finish before anything else is timed. wrk costs the shared cores far less per login than a Node
 * client (which took ≈ 0.18 of a core at 120 logins/s, all of it missing from the hashing threads), so
 * the gateway gets the machine as it would in production, where clients are elsewhere. Without wrk,
 * Node login loops.
 */
function loginLoader(origin, users, opts, ctx) {
  if (opts.loader !== 'wrk') {
    return async (connections, seconds) => {
      const deadline = performance.now() + seconds * 1000;
      const r = await loginLoops(origin, users, connections, () => performance.now() >= deadline);
      return { ok: r.ok, failed: r.failed, seconds: r.seconds, latency: latencySummary(r.latencies) };
    };
  }
  const file = writeLoginBodies(join(ctx.tmpDir, 'login-bodies.txt'), users);
  const wrkLua = jsonPostLua({ file, path: '/api/auth/login', userAgent: BENCH_UA });
  return async (connections, seconds) => {
    const r = await runLoad({
      loader: 'wrk',
      url: `${origin}/`,
      connections,
      threads: 1,
      durationS: seconds,
      wrkLua,
      tmpDir: ctx.tmpDir,
    });
    await sleep(500);
    return {
      ok: r.requests - r.errors.http,
      failed: r.errorCount,
      seconds: r.durationS,
      latency: { n: r.requests, p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs },
    };
  };
}

/**
 * The floor (login-floor.mjs): node:http and the gateway's hashing threads alone, given the same users;
 * resolves once it listens, every password hashed.
 */
async function startFloor(ctx, users) {
  const file = writeLoginBodies(join(ctx.tmpDir, 'floor-users.txt'), users);
  const port = await freePort();
  const { memory_kib: m, iterations: t, parallelism: p } = LOGIN_ARGON2;
  const proc = ctx.spawnNode('login-floor', FLOOR_SCRIPT, [port, file, m, t, p].map(String));
  await waitForPort(port, proc, 60_000);
  return { origin: `http://127.0.0.1:${port}`, proc };
}

/**
 * CPU per login (ms) while `run` ran: the server's main thread (its event loop), its other threads (the
 * hashing threads, V8's GC helpers, SQLite's checkpointer) and Redis; null off Linux.
 */
async function cpuPerLogin(pids, run) {
  const before = { server: threadCpuSeconds(pids.server), redis: threadCpuSeconds(pids.redis) };
  const r = await run();
  const after = { server: threadCpuSeconds(pids.server), redis: threadCpuSeconds(pids.redis) };
  if (before.server === null || after.server === null || r.ok === 0) return { r, cpu: null };
  const ms = (seconds) => (1000 * seconds) / r.ok;
  const main = after.server.main - before.server.main;
  return {
    r,
    cpu: {
      mainMs: ms(main),
      threadsMs: ms(after.server.all - before.server.all - main),
      redisMs: before.redis === null || after.redis === null ? null : ms(after.redis.all - before.redis.all),
    },
  };
}

/** The medians over `rounds` of each CPU figure (null where a round could not read it), or null. */
function cpuMedians(rounds) {
  const cpus = rounds.map((r) => r.cpu).filter((c) => c !== null);
  if (cpus.length === 0) return null;
  const med = (field) => {
    const values = cpus.map((c) => c[field]);
    return values.includes(null) ? null : median(values);
  };
  return { mainMs: med('mainMs'), threadsMs: med('threadsMs'), redisMs: med('redisMs') };
}

async function loadRate(load, opts, pids) {
  const { r, cpu } = await cpuPerLogin(pids, () => load(opts.loginConcurrency, opts.loginS));
  return { ops: r.ok, failed: r.failed, seconds: r.seconds, perS: r.ok / r.seconds, latency: r.latency, cpu };
}

function probe(origin, token, opts) {
  const env = {
    PROBE_URL: `${origin}/`,
    PROBE_RATE: String(opts.probeRate),
    PROBE_SECONDS: String(opts.burstS),
    PROBE_TOKEN: token,
    PROBE_UA: BENCH_UA,
  };
  return runToCompletion('latency-probe', process.execPath, [PROBE_SCRIPT], { env }).then(JSON.parse);
}

/** The proxied probe alone, or with `opts.burstLogins` logins kept in flight for its whole length. */
async function burstRound(origin, probeToken, load, withLogins, opts) {
  if (!withLogins) return { probe: await probe(origin, probeToken, opts), logins: null };
  // The logins run a second longer than the probe, which starts once their first wave is hashing.
  const logins = load(opts.burstLogins, Math.ceil(opts.burstS) + 1);
  await sleep(200);
  const result = await probe(origin, probeToken, opts);
  const { ok, failed, latency } = await logins;
  return { probe: result, logins: { ok, failed, latency } };
}

/** Runs the suite; returns its figures (see README.md, "Logins"). */
export async function runLogins(ctx, opts) {
  const gw = await startGateway(ctx, {
    name: 'portcullis-login',
    auth: 'required',
    overrides: { storage: { state: ctx.redis?.url ?? 'memory' }, passwords: { argon2: LOGIN_ARGON2 } },
  });
  const { origin } = gw;
  const password = benchPassword();
  const count = Math.max(opts.burstLogins, opts.loginConcurrency, opts.latencySamples) + 1;
  const emails = Array.from({ length: count }, (_, i) => `login${i}@bench.example`);
  ctx.progress(
    `logins: registering ${count} users with Argon2id m=${LOGIN_ARGON2.memory_kib} t=${LOGIN_ARGON2.iterations} p=${LOGIN_ARGON2.parallelism}`,
  );

  // One at a time: the latency of a register or a login when nothing else runs.
  const registerMs = [];
  for (let i = 0; i < opts.latencySamples; i++)
    registerMs.push(await timed(() => register(origin, emails[i], password, i)));
  await inPool(count - opts.latencySamples, 8, (i) =>
    register(origin, emails[opts.latencySamples + i], password),
  );
  const loginMs = [];
  for (let i = 0; i < opts.latencySamples; i++)
    loginMs.push(await timed(() => login(origin, emails[i], password)));
  const [probeEmail, ...loginEmails] = emails;
  const loginUsers = loginEmails.map((email) => ({ email, password }));
  const load = loginLoader(origin, loginUsers, opts, ctx);
  const floor = await startFloor(ctx, loginUsers);
  const floorLoad = loginLoader(floor.origin, loginUsers, opts, ctx);

  const kinds = ['node-rs', 'argon2', 'floor', 'gateway'];
  const rounds = { 'node-rs': [], argon2: [], floor: [], gateway: [] };
  const loads = { gateway: load, floor: floorLoad };
  const pids = { gateway: { server: gw.pid, redis: ctx.redis?.pid }, floor: { server: floor.proc.pid } };
  const measure = (kind) => (kind in loads ? loadRate(loads[kind], opts, pids[kind]) : rawRate(kind, opts));
  for (let round = 0; round < opts.loginRounds; round++) {
    for (const kind of roundOrder(kinds, round)) {
      const r = await measure(kind);
      rounds[kind].push(r);
      ctx.progress(`logins round ${round + 1}/${opts.loginRounds} ${kind}: ${r.perS.toFixed(1)}/s`);
    }
  }
  await floor.proc.stop();
  /** The median and range of per-round ratios of `a`'s rate to `b`'s. */
  const compare = (a, b) => {
    const ratios = rounds[a].map((r, i) => r.perS / rounds[b][i].perS);
    return { median: median(ratios), range: range(ratios) };
  };

  // The probe user logs in once and is never logged in again: its session stays valid throughout.
  const { access: probeToken } = await login(origin, probeEmail, password);
  const burst = { without: [], with: [] };
  for (let round = 0; round < opts.burstRounds; round++) {
    for (const withLogins of roundOrder([false, true], round)) {
      const r = await burstRound(origin, probeToken, load, withLogins, opts);
      burst[withLogins ? 'with' : 'without'].push(r);
      ctx.progress(
        `logins burst round ${round + 1}/${opts.burstRounds} ${withLogins ? 'with' : 'without'} logins: proxied p99 ${r.probe.p99Ms?.toFixed(2)} ms` +
          (r.probe.errors > 0 ? `, ${r.probe.errors} of ${r.probe.sent} proxied requests failed` : ''),
      );
    }
  }
  const p99Ratios = burst.with.map((r, i) => r.probe.p99Ms / burst.without[i].probe.p99Ms);

  return {
    argon2: LOGIN_ARGON2,
    concurrency: opts.loginConcurrency,
    seconds: opts.loginS,
    rates: Object.fromEntries(
      kinds.map((k) => [k, { perS: median(rounds[k].map((r) => r.perS)), rounds: rounds[k] }]),
    ),
    versions: { 'node-rs': rounds['node-rs'][0]?.version, argon2: rounds.argon2[0]?.version },
    gatewayOverNodeRs: compare('gateway', 'node-rs'),
    // Not a target: how much of the gap to the raw rate is the gateway's own per-login work.
    floorOverNodeRs: compare('floor', 'node-rs'),
    gatewayOverFloor: compare('gateway', 'floor'),
    // Medians over the rounds, ms per login: where the machine's time besides the hashes goes.
    cpuPerLogin: { floor: cpuMedians(rounds.floor), gateway: cpuMedians(rounds.gateway) },
    nodeRsOverArgon2: compare('node-rs', 'argon2'),
    gatewayLibrary: gatewayLibrary(ctx.root),
    latency: { register: latencySummary(registerMs), login: latencySummary(loginMs) },
    burst: {
      logins: opts.burstLogins,
      probeRate: opts.probeRate,
      seconds: opts.burstS,
      withoutP99Ms: median(burst.without.map((r) => r.probe.p99Ms)),
      withP99Ms: median(burst.with.map((r) => r.probe.p99Ms)),
      ratio: { median: median(p99Ratios), range: range(p99Ratios) },
      // The p99 is of the answers that were 200: a failed one is counted here instead (targets.mjs).
      probeErrors: [...burst.without, ...burst.with].reduce((sum, r) => sum + r.probe.errors, 0),
      rounds: burst,
    },
  };
}

const range = (xs) => (xs.length ? [Math.min(...xs), Math.max(...xs)] : null);
