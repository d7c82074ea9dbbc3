// Parses `node bench/run.mjs [options]` into one settings object. It validates; it runs nothing.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultLoader } from './load.mjs';
import { nginxPath } from './nginx.mjs';

export const USAGE = `usage: npm run bench -- [options]     (or: node bench/run.mjs [options])
  --quick               about two and a half minutes: 2 short rounds, for smoke runs (never judge speed on it)
  --only a,b            run only these contenders (the upstreams they need still start)
  --all                 also the contenders left out by default (direct to the other upstream)
  --require-all         fail when a selected contender cannot run (nginx's may be skipped): CI's check
  --suites a,b          which suites run: throughput,logins,streaming,stores (default), and instructions
                        (each of forwarder, forwarder-headers, portcullis-public/-memory/-redis under
                        valgrind's callgrind: instructions per request, about 10 minutes; not by default)
  --list                print the contenders and exit
  --rounds N            interleaved rounds at full load (default 5, quick 2)
  --duration S          seconds per timed run at full load (default 6, quick 1)
  --warmup S            seconds of untimed load on the same contender before each of its timed windows
                        (default 2, quick 1; 0 = none)
  --users N             users (tokens) per authenticating contender, one per request in turn (default 1000, quick 100);
                        also the users per store whose tokens the stores suite cycles through
  --stream-mb N         MiB moved each way by the streaming suite (default 1024, quick 128)
  --connections N       concurrent connections at full load (default 64)
  --threads N           wrk threads (default 1: the load generator shares the 2 cores)
  --unloaded-rounds N   rounds at 1 connection (default 3, quick 1; 0 = skip)
  --upstream node|nginx upstream the proxies forward to (default nginx when installed)
  --loader wrk|autocannon  load generator (default wrk when installed)
  --cpu-prof a,b        run these Node contenders under --cpu-prof and print their hottest functions
  --gateway-node-flags "F"  Node flags for every Portcullis gateway the bench starts (not the forwarder or
                        the peers), e.g. "--no-memory-reducer"; named in the report
  --compare-build DIR   also run each selected Portcullis contender from DIR/dist (another checkout, built),
                        as NAME-base right after NAME in every round: build against build, same conditions
  --out FILE            JSON results file (default bench/results/<time>.json)
`;

const INTEGER_FLAGS = {
  '--rounds': 'rounds',
  '--duration': 'durationS',
  '--warmup': 'warmupS',
  '--connections': 'connections',
  '--threads': 'threads',
  '--unloaded-rounds': 'unloadedRounds',
  '--users': 'users',
  '--stream-mb': 'streamMiB',
};

export const SUITES = ['throughput', 'logins', 'streaming', 'stores', 'instructions'];
/** The suites run unless --suites says otherwise: instructions is slow and measures another thing. */
const DEFAULT_SUITES = ['throughput', 'logins', 'streaming', 'stores'];

export function parseOptions(argv) {
  const quick = argv.includes('--quick');
  const opts = {
    quick,
    list: false,
    help: false,
    only: null,
    all: false,
    requireAll: false,
    suites: new Set(DEFAULT_SUITES),
    rounds: quick ? 2 : 5,
    durationS: quick ? 1 : 6,
    warmupS: quick ? 1 : 2,
    connections: 64,
    threads: 1,
    unloadedRounds: quick ? 1 : 3,
    unloadedS: quick ? 1 : 3,
    users: quick ? 100 : 1000,
    streamMiB: quick ? 128 : 1024,
    // The login suite: rounds of raw hashing vs gateway logins, and of the proxied-latency probe.
    loginRounds: quick ? 1 : 3,
    loginS: quick ? 1 : 4,
    loginConcurrency: 16,
    latencySamples: quick ? 10 : 100,
    burstLogins: 50,
    burstRounds: quick ? 1 : 2,
    burstS: quick ? 2 : 5,
    probeRate: 200,
    // The stores suite: SQLite vs PostgreSQL, interleaved rounds of logins then of GET /api/users/me.
    storeRounds: quick ? 2 : 3,
    storeLoginS: quick ? 1 : 5,
    storeLoginUsers: 16,
    storeProfileS: quick ? 1 : 6,
    upstream: nginxPath() ? 'nginx' : 'node',
    loader: defaultLoader(),
    cpuProf: new Set(),
    gatewayNodeFlags: [],
    compareBuild: null,
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick') continue;
    else if (flag === '--list') opts.list = true;
    else if (flag === '--help' || flag === '-h') opts.help = true;
    else if (flag === '--only') opts.only = value().split(',').filter(Boolean);
    else if (flag === '--all') opts.all = true;
    else if (flag === '--require-all') opts.requireAll = true;
    else if (flag === '--suites') opts.suites = new Set(value().split(',').filter(Boolean));
    else if (flag === '--cpu-prof') opts.cpuProf = new Set(value().split(',').filter(Boolean));
    else if (flag === '--out') opts.out = value();
    else if (flag === '--gateway-node-flags') opts.gatewayNodeFlags = value().split(' ').filter(Boolean);
    else if (flag === '--compare-build') opts.compareBuild = resolve(value());
    else if (flag === '--upstream') opts.upstream = oneOf(flag, value(), ['node', 'nginx']);
    else if (flag === '--loader') opts.loader = oneOf(flag, value(), ['wrk', 'autocannon']);
    else if (flag in INTEGER_FLAGS) {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number`);
      opts[INTEGER_FLAGS[flag]] = n;
    } else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  if (opts.rounds < 1 || opts.durationS < 1 || opts.connections < 1 || opts.threads < 1) {
    throw new Error('--rounds, --duration, --connections and --threads must be at least 1');
  }
  if (opts.users < 1 || opts.streamMiB < 1) throw new Error('--users and --stream-mb must be at least 1');
  const unknown = [...opts.suites].filter((s) => !SUITES.includes(s));
  if (unknown.length) throw new Error(`unknown suite(s) ${unknown.join(', ')}; known: ${SUITES.join(', ')}`);
  if (opts.compareBuild !== null && !existsSync(join(opts.compareBuild, 'dist/gateway/cli.js')))
    throw new Error(
      `--compare-build: ${opts.compareBuild}/dist/gateway/cli.js is missing (build that checkout)`,
    );
  if (opts.upstream === 'nginx' && !nginxPath()) throw new Error('--upstream nginx: nginx is not on PATH');
  return opts;
}

function oneOf(flag, value, allowed) {
  if (!allowed.includes(value)) throw new Error(`${flag} must be one of ${allowed.join(', ')}`);
  return value;
}
