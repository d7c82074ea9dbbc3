// Compiles the TypeScript sources to dist/ and copies the non-TypeScript assets beside them.
// --if-needed: skip quietly when TypeScript or the sources are not there (a production `npm ci --omit=dev`,
// or a Docker layer installing dependencies before the sources are copied).
// --if-stale: skip when dist/ is newer than every source file.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = new URL('.', import.meta.url).pathname;
const sourceDirs = ['gateway', 'admin', 'config'];
const args = new Set(process.argv.slice(2));
const require = createRequire(import.meta.url);

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

// `prepare` in a Docker layer that has package.json but not yet the sources: nothing to build there.
if (args.has('--if-needed') && !existsSync(join(root, 'tsconfig.json'))) process.exit(0);

let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  if (args.has('--if-needed') || args.has('--if-stale')) process.exit(0);
  console.error('build: TypeScript is not installed; run `npm ci` first');
  process.exit(1);
}

const stamp = join(root, 'dist', '.built');
if (args.has('--if-stale') && existsSync(stamp)) {
  const sources = Math.max(
    ...sourceDirs.map((d) => newestMtime(join(root, d))),
    statSync(join(root, 'tsconfig.json')).mtimeMs,
  );
  if (statSync(stamp).mtimeMs >= sources) process.exit(0);
}

// Built beside dist/ and swapped in at the end, so a process running from dist/ (a test, the bench)
// never sees it half-written or missing.
const out = join(root, 'dist.building');
rmSync(out, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', out], {
  stdio: 'inherit',
});
if (result.status !== 0) {
  rmSync(out, { recursive: true, force: true });
  process.exit(result.status ?? 1);
}
for (const dir of sourceDirs) {
  if (!existsSync(join(root, dir))) continue;
  cpSync(join(root, dir), join(out, dir), {
    recursive: true,
    filter: (src) => statSync(src).isDirectory() || !src.endsWith('.ts'),
  });
}
writeFileSync(join(out, '.built'), new Date().toISOString());
const old = join(root, 'dist.old');
rmSync(old, { recursive: true, force: true });
if (existsSync(join(root, 'dist'))) renameSync(join(root, 'dist'), old);
renameSync(out, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
