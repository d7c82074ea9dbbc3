// Turns the suites' results into the Markdown printed on stdout and the JSON kept in bench/results/.
// It computes nothing: the numbers come from the suites, the verdicts from targets.mjs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { instructionsTable } from './suites/instructions.mjs';

const num = (v, digits = 0) =>
  v === null || v === undefined
    ? '—'
    : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (v) => (v === null || v === undefined ? '—' : `${v.toFixed(2)}×`);
const mb = (bytes) => (bytes == null ? '—' : num(bytes / 2 ** 20, 0));
const signed = (v) => (v === null || v === undefined ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(3)}`);

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

function loadedTable(throughput, peakRss) {
  // A reference that did not run (peer skipped, --only) would be a column of dashes.
  const refs = Object.keys(throughput.settings.references).filter((r) =>
    throughput.rows.some((row) => row.loaded.ratios[r] !== null),
  );
  // CPU per request is the figure least moved by the machine's other load: one reference is enough.
  const cpuRef = refs.includes('forwarder') ? 'forwarder' : refs[0];
  const cpuRefs = cpuRef === undefined ? [] : [cpuRef];
  const header = [
    'contender',
    'req/s',
    ...refs.map((r) => `× ${r}`),
    ...cpuRefs.map((r) => `CPU/req × ${r}`),
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'errors',
    'CPU s/run',
    'CPU µs/req',
    'peak RSS MB',
  ];
  const rows = throughput.rows.map((row) => {
    const l = row.loaded;
    return [
      row.name,
      num(l.rps),
      ...refs.map((r) => ratio(l.ratios[r]?.rps)),
      ...cpuRefs.map((r) => ratio(l.ratios[r]?.cpuPerReq)),
      num(l.p50Ms, 2),
      num(l.p99Ms, 2),
      num(l.p999Ms, 2),
      num(l.errors),
      num(l.cpuS, 2),
      num(l.cpuUsPerReq, 0),
      mb(peakRss[row.name]),
    ];
  });
  return table(header, rows);
}

function unloadedTable(throughput) {
  const header = ['contender', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms'];
  const rows = throughput.rows
    .filter((row) => row.unloaded)
    .map((row) => {
      const u = row.unloaded;
      return [row.name, num(u.p50Ms, 3), num(u.p99Ms, 3), signed(u.addedP50Ms), signed(u.addedP99Ms)];
    });
  return table(header, rows);
}

function workersSection(workers) {
  return [
    `Workers (portcullis-redis-2w ÷ portcullis-redis, medians of per-round ratios): req/s ${ratio(workers.rps)} ` +
      `(rounds ${ratio(workers.rpsMin)}–${ratio(workers.rpsMax)}), CPU µs/req ${ratio(workers.cpuPerReq)} ` +
      `(rounds ${ratio(workers.cpuPerReqRange?.[0])}–${ratio(workers.cpuPerReqRange?.[1])}).`,
  ];
}

function dpopSection(d) {
  const extra = d.cpuUsPerReq.dpop - d.cpuUsPerReq.userAgent;
  return [
    `DPoP (portcullis-dpop ÷ portcullis-memory, the same gateway with user-agent binding; medians of per-round ratios): ` +
      `req/s ${ratio(d.rps)} (rounds ${ratio(d.rpsMin)}–${ratio(d.rpsMax)}); CPU µs/req ` +
      `${num(d.cpuUsPerReq.dpop)} with DPoP, ${num(d.cpuUsPerReq.userAgent)} with user-agent binding ` +
      `(${ratio(d.cpuPerReq)}, rounds ${ratio(d.cpuPerReqRange?.[0])}–${ratio(d.cpuPerReqRange?.[1])}; ` +
      `${Number.isFinite(extra) ? `${extra >= 0 ? '+' : ''}${num(extra)}` : '—'} µs per request). ` +
      "Every DPoP request carries a fresh proof by its user's P-256 key, signed by the bench before the window (not in the gateway's CPU).",
  ];
}

/** CPU per login of the gateway and the floor (main thread, other threads, Redis), when measured. */
function cpuPerLoginLines(cpu) {
  const g = cpu?.gateway;
  const f = cpu?.floor;
  if (!g) return [];
  const ms = (x) => (x == null ? '—' : `${x.toFixed(2)} ms`);
  return [
    '',
    `CPU per login (medians of the rounds): the gateway's main thread ${ms(g.mainMs)}, its other threads ` +
      `(hashing, GC helpers, SQLite checkpoints) ${ms(g.threadsMs)}, Redis ${ms(g.redisMs)}` +
      (f ? `; the floor's main thread ${ms(f.mainMs)}, its other threads ${ms(f.threadsMs)}.` : '.') +
      ' Whatever is not hashing comes out of the hash rate: the hashing threads run at the lowest priority.',
  ];
}

function loginsSection(l) {
  const a = l.argon2;
  const rate = (k, what) => [what, num(l.rates[k].perS, 1), ratio(l.rates[k].perS / l.rates['node-rs'].perS)];
  const lat = (what, x) => [what, num(x.n), num(x.p50Ms, 1), num(x.p99Ms, 1), num(x.maxMs, 1)];
  const gw = l.rates.gateway.rounds;
  const b = l.burst;
  const burstLogins = b.rounds.with.map((r) => r.logins?.ok ?? 0).reduce((x, y) => x + y, 0);
  return [
    `Logins (Argon2id m=${a.memory_kib} KiB, t=${a.iterations}, p=${a.parallelism}; ${l.concurrency} in flight; ` +
      `medians of ${l.rates.gateway.rounds.length} interleaved round(s) × ${l.seconds} s). ` +
      `The gateway's package.json depends on ${l.gatewayLibrary === 'node-rs' ? '@node-rs/argon2' : (l.gatewayLibrary ?? 'neither library')}.`,
    '',
    table(
      ['what', 'per s', '× @node-rs/argon2'],
      [
        rate('node-rs', `raw hashes, @node-rs/argon2 ${l.versions['node-rs'] ?? ''}`),
        rate('argon2', `raw hashes, argon2 ${l.versions.argon2 ?? ''}`),
        ...(l.rates.floor
          ? [rate('floor', "logins through node:http and the gateway's hashing threads alone (the floor)")]
          : []),
        rate('gateway', 'logins through the gateway (POST /api/auth/login)'),
      ],
    ),
    ...(l.gatewayOverFloor
      ? [
          '',
          `Gateway ÷ floor: ${ratio(l.gatewayOverFloor.median)} (rounds ${ratio(l.gatewayOverFloor.range?.[0])}–` +
            `${ratio(l.gatewayOverFloor.range?.[1])}): what the gateway's own per-login work (limits, lock, user ` +
            'lookup, session, login record and audit events, signatures) costs against Node and the threads alone.',
        ]
      : []),
    ...cpuPerLoginLines(l.cpuPerLogin),
    '',
    table(
      ['latency', 'n', 'p50 ms', 'p99 ms', 'max ms'],
      [
        lat('register, one at a time', l.latency.register),
        lat('login, one at a time', l.latency.login),
        lat(`login, ${l.concurrency} in flight (first round)`, gw[0].latency),
      ],
    ),
    '',
    `Proxied requests (authenticated route, ${b.probeRate} req/s open loop, ${b.seconds} s per round) ` +
      `with and without ${b.logins} logins in flight (${burstLogins} logins completed meanwhile):`,
    '',
    table(
      ['proxied', 'p99 ms', 'rounds'],
      [
        [
          'without logins',
          num(b.withoutP99Ms, 2),
          b.rounds.without.map((r) => num(r.probe.p99Ms, 2)).join(', '),
        ],
        [
          `during ${b.logins} concurrent logins`,
          num(b.withP99Ms, 2),
          b.rounds.with.map((r) => num(r.probe.p99Ms, 2)).join(', '),
        ],
        ['ratio', ratio(b.ratio.median), ''],
      ],
    ),
    ...(b.probeErrors > 0
      ? ['', `${b.probeErrors} proxied request(s) failed (not 200) in these rounds: the p99 leaves them out.`]
      : []),
  ];
}

function streamingSection(st) {
  const rows = st.rows.map((r) => [r.direction, r.via, num(r.mbPerS, 0), num(r.seconds, 1), mb(r.rssPeak)]);
  return [
    `Streaming (${mb(st.bytes)} MB each way, public route, one request at a time; MB = 2^20 bytes):`,
    '',
    table(['direction', 'via', 'MB/s', 's', 'peak RSS MB of the hop'], rows),
    '',
    `Forwarder RSS before streaming ${mb(st.forwarderRssAtStart)} MB. ` +
      `Gateway RSS before streaming ${mb(st.gatewayRssAtStart)} MB after ${st.settleMs / 1000} s idle (${mb(st.gatewayRssJustStarted)} MB just started; start-up peak ${mb(st.gatewayPeakBeforeStreaming)} MB); ` +
      `peak while streaming ${mb(st.gatewayPeakRss)} MB (${st.peakReset ? 'VmHWM, reset before each transfer' : 'highest 100 ms sample: VmHWM could not be reset'}).`,
  ];
}

function instructionsSection(result) {
  if (result.unavailable) return [`Instructions per request: not measured, ${result.unavailable}.`];
  const s = result.settings;
  return [
    `Instructions per request (callgrind, every thread of the contender's process; ${s.connections} ` +
      `connections, ${s.warmup.toLocaleString('en-US')} requests of warm-up, then ${s.windows} windows of ` +
      `${s.requests.toLocaleString('en-US')}; the median of the windows after the first; they do not ` +
      'depend on the load on the machine):',
    '',
    instructionsTable(result),
    ...result.skipped.map((sk) => `- \`${sk.name}\` did not run: ${sk.reason}`),
  ];
}

function storesSection(st) {
  if (st.unavailable) return [`User stores: not measured, ${st.unavailable}.`];
  const { sqlite, postgres } = st.stores;
  const r = st.ratios;
  const paired = (x) =>
    x?.median == null
      ? '—'
      : `${ratio(x.median)}${x.range ? ` (${ratio(x.range[0])}–${ratio(x.range[1])})` : ''}`;
  const row = (what, a, b, x, digits) => [what, num(a, digits), num(b, digits), paired(x)];
  const a = st.logins.argon2;
  const p = st.profile;
  return [
    `User stores (SQLite vs PostgreSQL, same gateway: memory state, ${st.workers} worker, ` +
      `auth.profile_cache_ttl ${st.profileCacheTtl} so that every ${p.path} reads the store, checked). ` +
      `Medians of ${st.rounds} interleaved round(s); PostgreSQL ÷ SQLite is the median of per-round ratios (their range).`,
    '',
    table(
      ['what', 'SQLite', 'PostgreSQL', 'PostgreSQL ÷ SQLite'],
      [
        row('logins/s', sqlite.logins.perS, postgres.logins.perS, r.loginsPerS, 1),
        row('login p50 ms', sqlite.logins.p50Ms, postgres.logins.p50Ms, r.loginP50Ms, 1),
        row('login p99 ms', sqlite.logins.p99Ms, postgres.logins.p99Ms, r.loginP99Ms, 1),
        row(`${p.path} req/s`, sqlite.profile.rps, postgres.profile.rps, r.profileRps, 0),
        row(`${p.path} p50 ms`, sqlite.profile.p50Ms, postgres.profile.p50Ms, r.profileP50Ms, 2),
        row(`${p.path} p99 ms`, sqlite.profile.p99Ms, postgres.profile.p99Ms, r.profileP99Ms, 2),
        [
          'failed logins / errors',
          `${num(sqlite.logins.failed)} / ${num(sqlite.profile.errors)}`,
          `${num(postgres.logins.failed)} / ${num(postgres.profile.errors)}`,
          '',
        ],
      ],
    ),
    '',
    `Logins: Argon2id m=${a.memory_kib} KiB, t=${a.iterations}, p=${a.parallelism}, ${st.logins.concurrency} in flight ` +
      `(cores), ${st.logins.users} users, ${st.logins.seconds} s per round. ${p.path}: ${p.connections} connections, ` +
      `${p.users} users' tokens in turn, ${p.seconds} s per round (${p.loader}).`,
  ];
}

function verdictLine(v) {
  const fmt = (x) =>
    x === null || x === undefined
      ? '—'
      : `${x.toFixed(v.unit === '×' ? 2 : v.unit === ' MB' ? 0 : 3)}${v.unit}`;
  const verdict =
    v.met === null
      ? 'not measured in this run'
      : v.met
        ? 'met'
        : v.spoiled
          ? `MISSED (${v.spoiled}: not a measurement)`
          : 'MISSED';
  const range = v.range ? ` (rounds ${fmt(v.range[0])}–${fmt(v.range[1])})` : '';
  const goal = v.min !== undefined ? `≥ ${v.min}${v.unit}` : `≤ ${v.max}${v.unit}`;
  return `- ${v.label}: ${fmt(v.value)}${range}, target ${goal}: ${verdict}`;
}

function buildsSection(builds) {
  return [
    `This build ÷ the build in ${builds.dir} (each contender ÷ its \`-base\` twin, medians of per-round ratios):`,
    ...builds.rows.map(
      ({ name, ratios: r }) =>
        `- ${name}: req/s ${ratio(r.rps)} (rounds ${ratio(r.rpsMin)}–${ratio(r.rpsMax)}), CPU µs/req ` +
        `${ratio(r.cpuPerReq)} (rounds ${ratio(r.cpuPerReqRange?.[0])}–${ratio(r.cpuPerReqRange?.[1])})`,
    ),
  ];
}

const us = (n) => `${num(n, n < 10 ? 1 : 0)} µs`;

/** The machine's state at the start and end of the run (lib/vm-probe.mjs), or null when not probed. */
function machineLine(start, end) {
  if (!start) return null;
  /** One figure from each probe that ran, formatted: "15 µs → 16 µs". */
  const both = (pick, format) =>
    [start, end]
      .filter(Boolean)
      .map((m) => format(pick(m)))
      .join(' → ');
  const trip = start.roundTrip.oneCpu
    ? `${both((m) => m.roundTrip.oneCpu.p50Us, us)} on one CPU, ` +
      `${both((m) => m.roundTrip.twoCpus.p50Us, us)} across two`
    : `${both((m) => m.roundTrip.unpinned.p50Us, us)} (not pinned: no taskset or one CPU)`;
  const work = `${both((m) => m.work.warmUs, us)} back to back, ${both((m) => m.work.ratio, ratio)} that`;
  return (
    `Machine state${end ? ', at start → at end' : ''} (\`lib/vm-probe.mjs\`; bench/README.md, ` +
    `"The machine's state"): a loopback round trip between two processes ${trip}; a small fixed ` +
    `piece of work (SHA-256 of 60 bytes and a JSON round trip) ${work} right after its thread slept 2 ms.`
  );
}

/** The windows measured again because the first completed no request ('express, 64 conn round 3'). */
function retriedWindows(throughput) {
  const found = [];
  for (const row of throughput.rows) {
    const series = [
      [`${throughput.settings.connections} conn`, row.loaded.rounds],
      ['1 conn', row.unloaded?.rounds ?? []],
    ];
    for (const [label, rounds] of series) {
      for (const r of rounds) {
        if (r.retried)
          found.push(
            `${row.name}, ${label} round ${r.round + 1}${r.empty ? ' (empty again: left out)' : ''}`,
          );
      }
    }
  }
  return found;
}

export function renderMarkdown({
  meta,
  throughput,
  peakRss,
  workers,
  dpop,
  builds,
  logins,
  streaming,
  stores,
  instructions,
  skipped,
  verdicts,
  labels,
}) {
  const out = [`## Portcullis bench (${meta.mode}), ${meta.startedAt}`, ''];
  out.push(
    `${meta.cpus} CPUs, Node ${meta.node}, ${meta.loaderVersion}; upstream: ${meta.upstream}; ` +
      `load average ${meta.loadavgAtStart.map((x) => x.toFixed(1)).join(' ')} at start.` +
      (meta.gatewayNodeFlags?.length
        ? ` Gateways run with \`node ${meta.gatewayNodeFlags.join(' ')}\`.`
        : ''),
  );
  const machine = machineLine(meta.machineAtStart, meta.machineAtEnd);
  if (machine !== null) out.push('', machine);
  if (throughput) {
    const s = throughput.settings;
    out.push(
      '',
      `Medians of ${s.rounds} interleaved rounds × ${s.durationS} s at ${s.connections} connections, ` +
        `each window after ${s.warmupS} s of untimed warm-up on the same contender, ` +
        `${s.threads} load thread(s), ${s.users} users (a different token on each request). ` +
        'Ratios are medians of per-round ratios.',
      '',
      loadedTable(throughput, peakRss),
    );
    if (throughput.rows.some((r) => r.unloaded)) {
      out.push(
        '',
        `Unloaded (1 connection, ${s.unloadedRounds} round(s) × ${s.unloadedS} s); added = over ${s.baseline}:`,
        '',
        unloadedTable(throughput),
      );
    }
    const rerun = retriedWindows(throughput);
    if (rerun.length > 0) out.push('', `Run again after completing no request: ${rerun.join(', ')}.`);
    out.push('', 'Contenders:', ...throughput.rows.map((r) => `- \`${r.name}\`: ${labels[r.name]}`));
  }
  for (const sk of skipped) out.push(`- \`${sk.name}\` did not run: ${sk.reason}`);
  if (workers) out.push('', ...workersSection(workers));
  if (dpop) out.push('', ...dpopSection(dpop));
  if (builds) out.push('', ...buildsSection(builds));
  if (logins) out.push('', ...loginsSection(logins));
  if (streaming) out.push('', ...streamingSection(streaming));
  if (stores) out.push('', ...storesSection(stores));
  if (instructions) out.push('', ...instructionsSection(instructions));
  if (verdicts.length > 0) out.push('', 'Targets:', ...verdicts.map(verdictLine));
  if (meta.quick) out.push('', '_Quick mode: checks that the harness works; do not judge speed on it._');
  return `${out.join('\n')}\n`;
}

export function writeJson(file, data) {
  mkdirSync(dirname(file), { recursive: true });
  // Options hold Sets (suites, profiled contenders): written as arrays.
  const replacer = (_key, value) => (value instanceof Set ? [...value] : value);
  writeFileSync(file, `${JSON.stringify(data, replacer, 2)}\n`);
}
