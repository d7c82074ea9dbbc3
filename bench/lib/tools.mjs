// Finds the external programs the bench can use (wrk, nginx) on PATH. It only looks; it starts nothing.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const cache = new Map();

/** Absolute path of `name` on PATH (plus the sbin folders, where Debian puts nginx), or null. */
export function findTool(name) {
  if (cache.has(name)) return cache.get(name);
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  let found = null;
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      found = join(dir, name);
      break;
    } catch {
      // Not here.
    }
  }
  cache.set(name, found);
  return found;
}

/** First line a tool prints about its version (wrk and nginx print it on stderr), or null. */
export function toolVersion(path, args) {
  try {
    const out = execFileSync(path, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0].trim() || null;
  } catch (err) {
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return text.split('\n')[0].trim() || null;
  }
}
