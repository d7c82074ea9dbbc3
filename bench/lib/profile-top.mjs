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

/** { busySamples, functions: [{ name, file, line, share }], files: [{ file, share }] }; shares of busy time. */
export function summariseProfile(file, limit = 20) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byFunction = new Map();
  const byFile = new Map();
  let busy = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)' || node.hitCount === 0) continue;
    busy += node.hitCount;
    const name = functionName || '(anonymous)';
    const key = `${name} ${url}:${lineNumber}`;
    const fn = byFunction.get(key) ?? { name, file: where(url), line: lineNumber + 1, hits: 0 };
    fn.hits += node.hitCount;
    byFunction.set(key, fn);
    const f = where(url) || name;
    byFile.set(f, (byFile.get(f) ?? 0) + node.hitCount);
  }
  const share = (hits) => (busy === 0 ? 0 : hits / busy);
  return {
    busySamples: busy,
    functions: [...byFunction.values()]
      .sort((a, b) => b.hits - a.hits)
      .slice(0, limit)
      .map((f) => ({ name: f.name, file: f.file, line: f.line, share: share(f.hits) })),
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
