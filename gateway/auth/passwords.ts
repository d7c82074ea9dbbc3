// Argon2id password hashing through @node-rs/argon2 (the only module importing it): hash, verify,
// rehash detection and a dummy verify for unknown emails. It does not judge password strength.

import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { type Algorithm, hash, type Options, parseOptions, type Version, verify } from '@node-rs/argon2';

export interface Argon2Params {
  readonly memory_kib: number;
  readonly iterations: number;
  readonly parallelism: number;
}

export interface PasswordHasher {
  /** A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a fresh 16-byte salt. */
  hash(password: string): Promise<string>;
  /** False for a wrong password and for a stored hash that cannot be parsed; never rejects. */
  verify(storedHash: string, password: string): Promise<boolean>;
  /** True when the stored hash was not made with exactly the configured algorithm and parameters. */
  needsRehash(storedHash: string): boolean;
  /**
   * Verifies against a hash made once with the configured parameters and always answers false, so
   * a login for an unknown email costs the same time as a wrong password (no account enumeration).
   */
  verifyDummy(password: string): Promise<false>;
}

// The package's enums are `const enum`s that exist only as types: their runtime objects are empty,
// and a per-file transpiler (vitest) cannot inline them. These are their documented values.
const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1 as Version;
const OUTPUT_BYTES = 32;

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

export function createPasswordHasher(params: Argon2Params): PasswordHasher {
  checkParams(params);
  const options: Options = {
    algorithm: ARGON2ID,
    version: VERSION_0X13,
    memoryCost: params.memory_kib,
    timeCost: params.iterations,
    parallelism: params.parallelism,
    outputLen: OUTPUT_BYTES,
  };

  // Made in the background at start-up; the first unknown-email login waits for it at most once.
  const dummyHash = hash(randomBytes(32).toString('base64url'), options);
  dummyHash.catch(() => undefined); // surfaced by verifyDummy, not as an unhandled rejection

  // At most one hash per core at a time: more only adds threads that take CPU from the event loop (a
  // login burst must not stall proxied requests) without hashing any faster. The rest wait their turn.
  const slots = Math.max(1, availableParallelism());
  let busy = 0;
  const waiting: Array<() => void> = [];
  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (busy >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
    else busy++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next === undefined) busy--;
      else next();
    }
  }

  // The algorithm and parameters come from the stored hash itself, so hashes made under older
  // settings still verify, once, and are then upgraded (needsRehash).
  async function safeVerify(storedHash: string, password: string): Promise<boolean> {
    try {
      return await limited(() => verify(storedHash, password));
    } catch {
      return false;
    }
  }

  return {
    hash: (password) => limited(() => hash(password, options)),
    verify: safeVerify,
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
    async verifyDummy(password) {
      await safeVerify(await dummyHash, password);
      return false;
    },
  };
}
