// Argon2id password hashing through @node-rs/argon2 (the only module importing it): hash, verify,
// rehash detection and a dummy verify for unknown emails. It does not judge password strength.
// Hashes run on the threads of hash-pool.ts, at the lowest CPU priority (README: "Password hashing").

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import {
  type Algorithm,
  hash as hashOnLibuv,
  type Options,
  parseOptions,
  type Version,
} from '@node-rs/argon2';
import type { Logger } from '../logger.js';
import { createHashPool, type HashClient, type HashThread, MAX_QUEUE_WAIT_MS } from './hash-pool.js';
import { randomToken } from './random-token.js';

export { type HashClient, type HashThread, MAX_QUEUE_WAIT_MS } from './hash-pool.js';

export interface Argon2Params {
  readonly memory_kib: number;
  readonly iterations: number;
  readonly parallelism: number;
}

export interface PasswordHasher {
  /** A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a fresh 16-byte salt. */
  hash(password: string, client?: HashClient): Promise<string>;
  /**
   * False for a wrong password and for a stored hash that cannot be parsed. Rejects only when the
   * hashing itself failed (a worker thread died, the hasher is closed) or `client` had it dropped:
   * that is not a wrong password.
   */
  verify(storedHash: string, password: string, client?: HashClient): Promise<boolean>;
  /** True when the stored hash was not made with exactly the configured algorithm and parameters. */
  needsRehash(storedHash: string): boolean;
  /**
   * Verifies against a hash made once with the configured parameters and always answers false, so
   * a login for an unknown email costs the same time as a wrong password (no account enumeration).
   */
  verifyDummy(password: string, client?: HashClient): Promise<false>;
  /** Stops the worker threads; hashes still waiting or running reject. */
  close(): Promise<void>;
}

export interface PasswordHasherOptions {
  /** Where a thread that died or could not lower its priority is reported (once for the priority). */
  readonly log?: Pick<Logger, 'warn' | 'error'>;
  /** A thread with nothing to hash for this long stops (ms, default 10 s); the next hash starts one. */
  readonly idleMs?: number;
  /** Hashing threads (default or 0: one per core, `os.availableParallelism()`). */
  readonly threads?: number;
  /** The longest a client's hash waits for a thread (ms, default MAX_QUEUE_WAIT_MS). */
  readonly maxQueueWaitMs?: number;
}

// The package's enums are `const enum`s that exist only as types: their runtime objects are empty,
// and a per-file transpiler (vitest) cannot inline them. These are their documented values.
const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1 as Version;
const OUTPUT_BYTES = 32;

// A hashing thread costs ≈ 10 MB of RSS (its own V8 heap and the library). Between login bursts it
// is stopped, so an idle gateway keeps its footprint; starting one again takes a few milliseconds.
const IDLE_MS = 10_000;

const ARGON2_PATH = createRequire(import.meta.url).resolve('@node-rs/argon2');

// RFC 9106 §3.1: parallelism 1..2^24-1 (the binding allows 1..255), memory at least 8·p KiB.
function checkParams(params: Argon2Params): void {
  const { memory_kib: m, iterations: t, parallelism: p } = params;
  if (!Number.isInteger(p) || p < 1 || p > 255)
    throw new Error('argon2.parallelism must be an integer 1..255');
  if (!Number.isInteger(t) || t < 1) throw new Error('argon2.iterations must be a positive integer');
  if (!Number.isInteger(m) || m < 8 * p || m > 2 ** 32 - 1) {
    throw new Error('argon2.memory_kib must be an integer of at least 8 × parallelism');
  }
}

/** The hasher and, for tests and diagnostics, its threads. */
export function createPasswordHasher(
  params: Argon2Params,
  opts: PasswordHasherOptions = {},
): PasswordHasher & { threads(): readonly HashThread[] } {
  checkParams(params);
  const options: Options = {
    algorithm: ARGON2ID,
    version: VERSION_0X13,
    memoryCost: params.memory_kib,
    timeCost: params.iterations,
    parallelism: params.parallelism,
    outputLen: OUTPUT_BYTES,
  };
  const pool = createHashPool(
    ARGON2_PATH,
    opts.threads || Math.max(1, availableParallelism()),
    opts.log,
    opts.idleMs ?? IDLE_MS,
    opts.maxQueueWaitMs ?? MAX_QUEUE_WAIT_MS,
  );

  async function hash(password: string, client?: HashClient): Promise<string> {
    const value = await pool.run({ op: 'hash', password, options }, client);
    if (typeof value !== 'string') throw new Error('password hashing thread answered a non-string hash');
    return value;
  }

  // The algorithm and parameters come from the stored hash itself, so hashes made under older
  // settings still verify, once, and are then upgraded (needsRehash).
  async function verify(storedHash: string, password: string, client?: HashClient): Promise<boolean> {
    return (await pool.run({ op: 'verify', hash: storedHash, password }, client)) === true;
  }

  // Made in the background at start-up; the first unknown-email login waits for it at most once. It
  // is made on libuv's thread pool, once: a hashing thread would be started, and kept for IDLE_MS, by
  // every gateway start. A failed attempt is not kept: the next unknown-email login tries again.
  let dummyHash: Promise<string> | null = null;
  const makeDummy = (): Promise<string> => {
    const made = hashOnLibuv(randomToken(32), options);
    dummyHash = made;
    made.catch(() => {
      if (dummyHash === made) dummyHash = null;
    });
    return made;
  };
  makeDummy();

  return {
    hash,
    verify,
    needsRehash(storedHash) {
      try {
        const found = parseOptions(storedHash);
        return (
          found.algorithm !== ARGON2ID ||
          found.version !== VERSION_0X13 ||
          found.memoryCost !== params.memory_kib ||
          found.timeCost !== params.iterations ||
          found.parallelism !== params.parallelism ||
          found.outputLen !== OUTPUT_BYTES
        );
      } catch {
        return true;
      }
    },
    async verifyDummy(password, client) {
      await verify(await (dummyHash ?? makeDummy()), password, client);
      return false;
    },
    close: () => pool.close(),
    threads: () => pool.threads(),
  };
}
