// The targets of issues 3, 4, 5 and 9, each read from the run's results and judged met or MISSED.
// Add one line per new target. It measures nothing; the suites do.

const row = (results, name) => results.throughput?.rows.find((r) => r.name === name) ?? null;

/** Errors above this share of a contender's answers spoil its figures: they are not a measurement. */
const ERROR_SHARE = 0.001;

/**
 * Why the loaded figures of `name` are not to be believed, or null: errors (failed answers, socket
 * errors, windows without any answer) or rounds left out.
 */
function spoiled(results, name) {
  const l = row(results, name)?.loaded;
  if (!l) return null;
  if (l.emptyRounds > 0) return `${name}: ${l.emptyRounds} round(s) without any answer`;
  if (l.errors > ERROR_SHARE * Math.max(1, l.requests)) return `${name}: ${l.errors} errors`;
  return null;
}

/** Loaded req/s of `name` over `ref`, median of per-round ratios; MISSED when either had errors. */
const loaded = (name, ref) => (results) => {
  const r = row(results, name)?.loaded.ratios[ref];
  const why = spoiled(results, name) ?? spoiled(results, ref);
  if (r?.rps == null)
    return why === null || !row(results, name) ? null : { value: null, range: null, spoiled: why };
  return { value: r.rps, range: [r.rpsMin, r.rpsMax], spoiled: why };
};

/** Unloaded latency `name` adds over direct (key 'P50' or 'P99'), ms. */
const added = (name, key) => (results) => {
  const u = row(results, name)?.unloaded;
  if (u?.[`added${key}Ms`] == null) return null;
  const errors = u.rounds.reduce((sum, r) => sum + r.errorCount, 0);
  const requests = u.rounds.reduce((sum, r) => sum + r.requests, 0);
  const empty = u.rounds.filter((r) => r.empty).length;
  let why = null;
  if (empty > 0) why = `${name}: ${empty} unloaded round(s) without any answer`;
  else if (errors > ERROR_SHARE * Math.max(1, requests)) why = `${name}: ${errors} errors unloaded`;
  return { value: u[`added${key}Ms`], range: u[`added${key}Range`], spoiled: why };
};

const pick = (get) => (results) => {
  const r = get(results);
  return r?.median == null ? null : { value: r.median, range: r.range };
};

export const TARGETS = [
  {
    label: 'portcullis-public req/s ÷ forwarder',
    min: 0.9,
    unit: '×',
    measure: loaded('portcullis-public', 'forwarder'),
  },
  {
    label: 'portcullis-redis req/s ÷ forwarder',
    min: 0.6,
    unit: '×',
    measure: loaded('portcullis-redis', 'forwarder'),
  },
  {
    label: 'portcullis-redis req/s ÷ fastify',
    min: 2,
    unit: '×',
    measure: loaded('portcullis-redis', 'fastify'),
  },
  {
    label: 'portcullis-redis req/s ÷ express (keep-alive)',
    min: 2.5,
    unit: '×',
    measure: loaded('portcullis-redis', 'express'),
  },
  {
    label: 'portcullis-redis unloaded added p50',
    max: 0.25,
    unit: ' ms',
    measure: added('portcullis-redis', 'P50'),
  },
  {
    label: 'portcullis-memory unloaded added p50',
    max: 0.25,
    unit: ' ms',
    measure: added('portcullis-memory', 'P50'),
  },
  {
    label: 'portcullis-redis unloaded added p99',
    max: 2,
    unit: ' ms',
    measure: added('portcullis-redis', 'P99'),
  },
  {
    label: 'CPU µs/req, 2 workers ÷ 1 worker (portcullis-redis-2w ÷ portcullis-redis)',
    max: 1.1,
    unit: '×',
    measure: (results) =>
      results.workers?.cpuPerReq == null
        ? null
        : {
            value: results.workers.cpuPerReq,
            range: results.workers.cpuPerReqRange,
            spoiled: spoiled(results, 'portcullis-redis-2w') ?? spoiled(results, 'portcullis-redis'),
          },
  },
  {
    label: 'portcullis-dpop req/s ÷ portcullis-memory (user-agent binding)',
    min: 0.85,
    unit: '×',
    measure: (results) =>
      results.dpop?.rps == null
        ? null
        : { value: results.dpop.rps, range: [results.dpop.rpsMin, results.dpop.rpsMax] },
  },
  {
    label: 'logins/s ÷ raw @node-rs/argon2 hashes/s',
    min: 0.9,
    unit: '×',
    measure: pick((r) => r.logins?.gatewayOverNodeRs),
  },
  {
    label: "the gateway's Argon2 library (package.json) ÷ the other one, raw hashes/s",
    min: 1,
    unit: '×',
    measure: (results) => {
      const l = results.logins;
      if (!l?.gatewayLibrary || l.nodeRsOverArgon2.median == null) return null;
      const { median, range } = l.nodeRsOverArgon2;
      if (l.gatewayLibrary === 'node-rs') return { value: median, range };
      return { value: 1 / median, range: range && [1 / range[1], 1 / range[0]] };
    },
  },
  {
    label: 'proxied p99 during 50 concurrent logins ÷ without',
    max: 3,
    unit: '×',
    measure: (results) => {
      const b = results.logins?.burst;
      const found = pick(() => b?.ratio)(results);
      if (found === null || !(b.probeErrors > 0)) return found;
      return { ...found, spoiled: `${b.probeErrors} proxied requests failed` };
    },
  },
  {
    label: 'gateway peak RSS while streaming down and up',
    max: 150,
    unit: ' MB',
    measure: (results) =>
      results.streaming?.gatewayPeakRss == null
        ? null
        : { value: results.streaming.gatewayPeakRss / 2 ** 20, range: null },
  },
];

/**
 * Each target → { label, min?, max?, unit, value, range, met: true | false | null (not measured), spoiled }.
 * A figure from windows with errors is MISSED whatever its value (`spoiled` says why).
 */
export function judgeTargets(targets, results) {
  return targets.map(({ measure, ...t }) => {
    const found = measure(results);
    const value = found?.value ?? null;
    const spoiledBy = found?.spoiled ?? null;
    let met = null;
    if (value !== null)
      met = (t.min === undefined || value >= t.min) && (t.max === undefined || value <= t.max);
    if (spoiledBy !== null) met = false;
    return { ...t, value, range: found?.range ?? null, met, spoiled: spoiledBy };
  });
}
