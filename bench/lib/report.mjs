// Turns the suites' results into the Markdown printed on stdout and the JSON kept in bench/results/.
// It computes nothing new except target verdicts; the numbers come from the suites.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

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
  const refs = Object.keys(throughput.settings.references);
  // CPU per request is the figure least moved by the machine's other load: one reference is enough.
  const cpuRef = refs.includes('forwarder') ? 'forwarder' : refs[0];
  const header = [
    'contender',
    'req/s',
    ...refs.map((r) => `× ${r}`),
    `CPU/req × ${cpuRef}`,
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
      ratio(l.ratios[cpuRef]?.cpuPerReq),
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

/** Each target: { contender, reference, min, label } → verdict against the loaded ratios. */
export function judgeTargets(targets, throughput) {
  return targets.map((t) => {
    const row = throughput.rows.find((r) => r.name === t.contender);
    const found = row?.loaded.ratios[t.reference] ?? null;
    const value = found?.rps ?? null;
    return {
      ...t,
      value,
      range: found ? [found.rpsMin, found.rpsMax] : null,
      met: value === null ? null : value >= t.min,
    };
  });
}

export function renderMarkdown({ meta, throughput, peakRss, verdicts, labels }) {
  const s = throughput.settings;
  const out = [
    `## Portcullis bench (${meta.mode}), ${meta.startedAt}`,
    '',
    `${meta.cpus} CPUs, Node ${meta.node}, ${meta.loaderVersion}; upstream: ${meta.upstream}. ` +
      `Medians of ${s.rounds} interleaved rounds × ${s.durationS} s at ${s.connections} connections, ` +
      `${s.threads} load thread(s). Ratios are medians of per-round ratios.`,
    '',
    loadedTable(throughput, peakRss),
  ];
  if (throughput.rows.some((r) => r.unloaded)) {
    out.push(
      '',
      `Unloaded (1 connection, ${s.unloadedRounds} round(s) × ${s.unloadedS} s); added = over ${s.baseline}:`,
      '',
      unloadedTable(throughput),
    );
  }
  out.push('', 'Contenders:', ...throughput.rows.map((r) => `- \`${r.name}\`: ${labels[r.name]}`));
  if (verdicts.length > 0) {
    out.push('', 'Targets:');
    for (const v of verdicts) {
      const verdict = v.met === null ? 'not measured in this run' : v.met ? 'met' : 'MISSED';
      const range = v.range ? ` (rounds ${ratio(v.range[0])}–${ratio(v.range[1])})` : '';
      out.push(`- ${v.label}: ${ratio(v.value)}${range}, target ≥ ${v.min}×: ${verdict}`);
    }
  }
  if (meta.quick) out.push('', '_Quick mode: checks that the harness works; do not judge speed on it._');
  return `${out.join('\n')}\n`;
}

export function writeJson(file, data) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
