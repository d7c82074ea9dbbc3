// Runs one timed load against a URL with wrk (or autocannon when wrk is missing) and returns the
// figures in one shape. It does not choose contenders, rounds or order.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './processes.mjs';
import { findTool } from './tools.mjs';
import { headerCyclingLua, proofRequestsLua } from './wrk-headers.mjs';

const REPORT_LUA = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

/** 'wrk' when installed, else 'autocannon' (from bench/package.json). */
export function defaultLoader() {
  return findTool('wrk') ? 'wrk' : 'autocannon';
}

/**
 * `headers`: optional { file, header, prefix, userAgent }, a different value of `header` on each
 * request taken in turn from `file` (tokens); or { proofs: true, file, userAgent }: DPoP requests,
 * `<token> <proof>` per line, each sent once (proofRequestsLua); `wrkLua`: optional custom Lua for wrk instead.
 * @returns {{ requests, durationS, rps, p50Ms, p90Ms, p99Ms, p999Ms, maxMs,
 *   errors: { connect, read, write, timeout, http }, errorCount, overruns }} (`overruns`: requests sent
 *   without credentials because a one-use list ran out; they are also among the errors)
 */
export function runLoad({ loader, url, connections, threads, durationS, headers, wrkLua, tmpDir }) {
  if (loader === 'wrk') {
    const wrkThreads = Math.min(threads, connections);
    let lua = wrkLua ?? null;
    if (!lua && headers?.proofs) lua = proofRequestsLua({ ...headers, threads: wrkThreads });
    else if (!lua && headers) lua = headerCyclingLua(headers);
    return runWrk({ url, connections, threads, durationS, wrkLua: lua, tmpDir });
  }
  if (wrkLua) throw new Error('this contender needs a wrk Lua script; install wrk');
  return runAutocannon({ url, connections, durationS, headers });
}

let scriptCount = 0;
function wrkScript(wrkLua, tmpDir) {
  if (!wrkLua) return REPORT_LUA;
  const file = join(tmpDir, `wrk-${++scriptCount}.lua`);
  writeFileSync(file, `${wrkLua}\n${readFileSync(REPORT_LUA, 'utf8')}`);
  return file;
}

function runWrk({ url, connections, threads, durationS, wrkLua, tmpDir }) {
  const args = [
    `-t${Math.min(threads, connections)}`,
    `-c${connections}`,
    `-d${durationS}s`,
    '--timeout',
    '5s',
    '-s',
    wrkScript(wrkLua, tmpDir),
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(
      findTool('wrk'),
      args,
      { timeout: (durationS + 30) * 1000 },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
        if (err || !line) {
          reject(
            new Error(
              `wrk ${args.join(' ')} failed: ${err?.message ?? 'no result line'}\n${stdout}${stderr}`,
            ),
          );
          return;
        }
        const r = JSON.parse(line.slice('BENCH_RESULT '.length));
        const durationSec = r.duration_us / 1e6;
        const errors = {
          connect: r.connect_errors,
          read: r.read_errors,
          write: r.write_errors,
          timeout: r.timeouts,
          http: r.http_errors,
        };
        const ok = r.requests - r.http_errors;
        resolve({
          requests: r.requests,
          ok,
          durationS: durationSec,
          // Answers that are errors (4xx, 5xx) are not throughput: a contender answering fast 401s or 502s
          // would otherwise gain by it.
          rps: ok / durationSec,
          p50Ms: r.p50_us / 1000,
          p90Ms: r.p90_us / 1000,
          p99Ms: r.p99_us / 1000,
          p999Ms: r.p999_us / 1000,
          maxMs: r.max_us / 1000,
          errors,
          errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
          overruns: r.overruns,
        });
      },
    );
    track('wrk', child);
  });
}

/** autocannon's per-request hook doing what proofRequestsLua does for wrk; `state.overruns` counts. */
function proofRequests({ file, userAgent }, state) {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  let next = 0;
  return [
    {
      setupRequest(req) {
        if (next >= lines.length) {
          state.overruns++;
          req.headers = { 'user-agent': userAgent };
          return req;
        }
        const line = lines[next++];
        const sp = line.indexOf(' ');
        req.headers = {
          ...req.headers,
          authorization: `DPoP ${line.slice(0, sp)}`,
          dpop: line.slice(sp + 1),
          'user-agent': userAgent,
        };
        return req;
      },
    },
  ];
}

/** autocannon's per-request hook doing what headerCyclingLua does for wrk. */
function cyclingRequests({ file, header, prefix = '', userAgent }) {
  const values = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  let next = Math.floor(Math.random() * values.length);
  return [
    {
      setupRequest(req) {
        next = (next + 1) % values.length;
        req.headers = { ...req.headers, [header]: `${prefix}${values[next]}`, 'user-agent': userAgent };
        return req;
      },
    },
  ];
}

async function runAutocannon({ url, connections, durationS, headers }) {
  const { default: autocannon } = await import('autocannon');
  const state = { overruns: 0 };
  let requests;
  if (headers?.proofs) requests = proofRequests(headers, state);
  else if (headers) requests = cyclingRequests(headers);
  const r = await autocannon({ url, connections, duration: durationS, requests });
  // autocannon's `errors` includes its timeouts.
  const errors = { connect: 0, read: r.errors - r.timeouts, write: 0, timeout: r.timeouts, http: r.non2xx };
  const ok = r.requests.total - r.non2xx;
  return {
    requests: r.requests.total,
    ok,
    durationS: r.duration,
    rps: ok / r.duration,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    p999Ms: r.latency.p99_9,
    maxMs: r.latency.max,
    errors,
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    overruns: state.overruns,
  };
}
