// Collects the .cpuprofile files written by contenders run under --cpu-prof and summarises each.
// It reads files only; starting processes with the flag is run.mjs's job.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderProfile, summariseProfile } from './profile-top.mjs';

/**
 * [{ name, file, summary, markdown }] for every profile under `dir/<contender>/`, counting only the
 * samples inside that contender's timed windows when `windowsByName` has them (also written there as
 * timed-windows.json: [[startUs, endUs], ...] on the profile's clock).
 */
export function collectProfiles(dir, windowsByName = {}) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, name)).filter((x) => x.endsWith('.cpuprofile'))) {
      const file = join(dir, name, f);
      // Suites' own gateways have no timed windows: their profiles cover their whole life.
      const windows = windowsByName[name]?.length ? windowsByName[name] : null;
      // Kept beside the profiles, so that other tools can read the timed runs alone too.
      if (windows) writeFileSync(join(dir, name, 'timed-windows.json'), `${JSON.stringify(windows)}\n`);
      const summary = summariseProfile(file, 25, windows);
      const scope = windows ? 'timed runs only' : 'whole life';
      out.push({ name, file, summary, markdown: renderProfile(`${name}, ${scope} (${file})`, summary) });
    }
  }
  return out;
}
