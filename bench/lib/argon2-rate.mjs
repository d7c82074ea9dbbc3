// The raw Argon2id hash rate on this machine, run as its own process so that it gets the machine as
// a gateway would: `node argon2-rate.mjs node-rs|argon2 CONCURRENCY SECONDS MEMORY_KIB ITERATIONS
// PARALLELISM`. Prints one JSON line. @node-rs/argon2 is the gateway's own copy (resolved from the
// repository root), npm `argon2` comes from bench/package.json.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const [lib, concurrency, seconds, m, t, p] = process.argv.slice(2);
const params = { memoryCost: Number(m), timeCost: Number(t), parallelism: Number(p) };

async function hasher() {
  if (lib === 'node-rs') {
    const require = createRequire(join(ROOT, 'package.json'));
    const entry = require.resolve('@node-rs/argon2');
    const mod = await import(pathToFileURL(entry).href);
    const version = require('@node-rs/argon2/package.json').version;
    // Algorithm.Argon2id = 2, Version.V0x13 = 1: the package's const enums have no runtime values.
    return { version, hash: (pw) => mod.hash(pw, { ...params, algorithm: 2, version: 1, outputLen: 32 }) };
  }
  if (lib === 'argon2') {
    const mod = await import('argon2');
    const require = createRequire(import.meta.url);
    const version = require('argon2/package.json').version;
    return { version, hash: (pw) => mod.hash(pw, { ...params, type: mod.argon2id, hashLength: 32 }) };
  }
  throw new Error(`unknown library ${lib}`);
}

const { version, hash } = await hasher();
await hash('warm-up password'); // loads the native module and sizes the thread pool before timing
const durationMs = Number(seconds) * 1000;
const start = performance.now();
let ops = 0;
async function worker(i) {
  while (performance.now() - start < durationMs) {
    await hash(`bench password ${i} ${ops}`);
    // Only hashes done within the window count, over the window: as wrk counts the gateway's logins.
    if (performance.now() - start <= durationMs) ops++;
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, (_, i) => worker(i)));
const elapsedS = durationMs / 1000;
process.stdout.write(`${JSON.stringify({ lib, version, ops, seconds: elapsedS, perS: ops / elapsedS })}\n`);
