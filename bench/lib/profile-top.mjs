// Summarises a V8 .cpuprofile (node --cpu-prof): the functions and files with the most self time.
// Usable as a module or alone: `node bench/lib/profile-top.mjs FILE.cpuprofile [N]`. Read-only.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function where(url) {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(root) ? relative(root, path) : path;
}

/**
 * Hits per node id: all of them, or only the samples taken inside `windows` ([[startUs, endUs]], on
 * the monotonic clock of process.hrtime, which is the clock V8 stamps samples with).
 */
function hitsByNode(profile, windows) {
  const hits = new Map();
  if (!windows) {
    for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
    return hits;
  }
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i];
    if (windows.some(([a, b]) => t >= a && t <= b)) hits.set(id, (hits.get(id) ?? 0) + 1);
  });
  return hits;
}

/**
 * { busySamples, functions: [{ name, file, line, share }], files: [{ file, share }] }; shares of busy
 * time, counting only samples inside `windows` when given (the timed runs, not the set-up).
 */
export function summariseProfile(file, limit = 20, windows = null) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const hits = hitsByNode(profile, windows);
  const byFunction = new Map();
  const byFile = new Map();
  let busy = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const hitCount = hits.get(node.id) ?? 0;
    if (functionName === '(idle)' || functionName === '(program)' || hitCount === 0) continue;
    busy += hitCount;
    const name = functionName || '(anonymous)';
    const key = `${name} ${url}:${lineNumber}`;
    const fn = byFunction.get(key) ?? { name, file: where(url), line: lineNumber + 1, hits: 0 };
    fn.hits += hitCount;
    byFunction.set(key, fn);
    const f = where(url) || name;
    byFile.set(f, (byFile.get(f) ?? 0) + hitCount);
  }
  const share = (hits) => (busy === 0 ? 0 : hits / busy);
  const ranked = [...byFunction.values()].sort((a, b) => b.hits - a.hits);
  const shape = (f) => ({ name: f.name, file: f.file, line: f.line, share: share(f.hits) });
  return {
    busySamples: busy,
    functions: ranked.slice(0, limit).map(shape),
    // The gateway's own code (the built dist/ of this repository): where a fix would go.
    ownFunctions: ranked
      .filter((f) => f.file.startsWith('dist/'))
      .slice(0, limit)
      .map(shape),
    files: [...byFile.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([f, hits]) => ({ file: f, share: share(hits) })),
  };
}

export function renderProfile(title, summary) {
  const pct = (s) => `${(s * 100).toFixed(1)}%`;
  const lines = [
    `### ${title}: top self time (${summary.busySamples} busy samples)`,
    '',
    '| self | function | where |',
    '|---:|---|---|',
  ];
  for (const f of summary.functions)
    lines.push(`| ${pct(f.share)} | ${f.name} | ${f.file ? `${f.file}:${f.line}` : ''} |`);
  lines.push('', '| self | function in the gateway (dist/) | where |', '|---:|---|---|');
  for (const f of summary.ownFunctions ?? [])
    lines.push(`| ${pct(f.share)} | ${f.name} | ${f.file}:${f.line} |`);
  lines.push('', '| self | file |', '|---:|---|');
  for (const f of summary.files) lines.push(`| ${pct(f.share)} | ${f.file} |`);
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/lib/profile-top.mjs FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  process.stdout.write(renderProfile(file, summariseProfile(file, Number(n) || 20)));
}
