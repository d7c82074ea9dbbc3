// Argon2id hashing: verify, rehash detection, garbage hashes, long passwords, the dummy verify used
// for unknown emails, that hashing never blocks the event loop, and the hashing threads: lowered
// priority, a thread that dies, closing, a process that exits. Low cost parameters where the exact
// cost does not matter: the machine has two shared cores.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createPasswordHasher } from '../../../gateway/auth/passwords.js';
import { GatewayError } from '../../../gateway/errors.js';

const CHEAP = { memory_kib: 1024, iterations: 1, parallelism: 1 } as const;
const hasher = createPasswordHasher(CHEAP);

// Made once with the reference parameters below by @node-rs/argon2, for 'hunter2hunter2'.
const FIXTURES = {
  argon2i: '$argon2i$v=19$m=1024,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg$mUTCPKVx8o/CSsIBEhHmK6XRrG8PTjKwY+eRfC8hf9o',
  version16:
    '$argon2id$v=16$m=1024,t=1,p=1$xuDP6JblBIOT3N54IU6w1g$n4YlFPQ3Oy2szBjN76gmVkAdUbePU0JFY4/LXRaksBA',
  shortOutput: '$argon2id$v=19$m=1024,t=1,p=1$IOFqGeGAI9weWkvBSXUTLQ$qaAd90Biac6utlAi9AuNYQ',
};

describe('password hasher', () => {
  it('hashes with Argon2id and the configured parameters, a fresh salt each time', async () => {
    const a = await hasher.hash('correct horse battery staple');
    const b = await hasher.hash('correct horse battery staple');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct');
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify(stored, 'correct horse battery staple')).toBe(true);
    expect(await hasher.verify(stored, 'correct horse battery stapl')).toBe(false);
    expect(await hasher.verify(stored, 'Correct horse battery staple')).toBe(false);
    expect(await hasher.verify(stored, '')).toBe(false);
  });

  it('hashes a 1024-code-point password of 4-byte characters whole (nothing truncated)', async () => {
    const long = '🔐'.repeat(1024);
    const stored = await hasher.hash(long);
    expect(await hasher.verify(stored, long)).toBe(true);
    expect(await hasher.verify(stored, '🔐'.repeat(1023))).toBe(false);
    expect(await hasher.verify(stored, `${'🔐'.repeat(1023)}🔑`)).toBe(false);
  });

  it('does not need a rehash for a hash made with the configured parameters', async () => {
    expect(hasher.needsRehash(await hasher.hash('x'))).toBe(false);
  });

  it.each([
    ['memory', { ...CHEAP, memory_kib: 2048 }],
    ['iterations', { ...CHEAP, iterations: 2 }],
    ['parallelism', { ...CHEAP, memory_kib: 1024, parallelism: 2 }],
  ])('needs a rehash when the configured %s changes; the old hash still verifies', async (_, params) => {
    const stored = await hasher.hash('old password 1');
    const upgraded = createPasswordHasher(params);
    expect(upgraded.needsRehash(stored)).toBe(true);
    expect(await upgraded.verify(stored, 'old password 1')).toBe(true);
    expect(upgraded.needsRehash(await upgraded.hash('old password 1'))).toBe(false);
  });

  it.each([
    ['argon2i', FIXTURES.argon2i],
    ['Argon2 version 0x10', FIXTURES.version16],
    ['a 16-byte output', FIXTURES.shortOutput],
  ])('accepts a legacy %s hash once and asks for a rehash', async (_, stored) => {
    expect(await hasher.verify(stored, 'hunter2hunter2')).toBe(true);
    expect(await hasher.verify(stored, 'hunter2hunter3')).toBe(false);
    expect(hasher.needsRehash(stored)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['plain text', 'hunter2hunter2'],
    ['truncated PHC', '$argon2id$v=19$m=1024,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg'],
    ['bad base64', '$argon2id$v=19$m=1024,t=1,p=1$!!!!$@@@@'],
    [
      'unknown algorithm',
      '$argon2x$v=19$m=1024,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg$mUTCPKVx8o/CSsIBEhHmK6XRrG8PTjKwY+eRfC8hf9o',
    ],
    [
      'non-numeric parameters',
      '$argon2id$v=19$m=lots,t=1,p=1$zJG0sMTfd2+8km3E4SUhrg$mUTCPKVx8o/CSsIBEhHmK6XRrG8PTjKwY+eRfC8hf9o',
    ],
    ['bcrypt', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'],
    ['NUL bytes', '\u0000'.repeat(20)],
  ])('a garbage stored hash (%s) verifies false, never throws, and needs a rehash', async (_, stored) => {
    await expect(hasher.verify(stored, 'hunter2hunter2')).resolves.toBe(false);
    expect(hasher.needsRehash(stored)).toBe(true);
  });

  it.each([
    ['memory below 8 KiB per lane', { memory_kib: 4, iterations: 1, parallelism: 1 }],
    ['zero iterations', { memory_kib: 1024, iterations: 0, parallelism: 1 }],
    ['zero parallelism', { memory_kib: 1024, iterations: 1, parallelism: 0 }],
    ['parallelism above 255', { memory_kib: 1 << 20, iterations: 1, parallelism: 256 }],
    ['fractional memory', { memory_kib: 1024.5, iterations: 1, parallelism: 1 }],
  ])('refuses %s at start-up', (_, params) => {
    expect(() => createPasswordHasher(params)).toThrow(/argon2\./);
  });

  it('verifyDummy always answers false', async () => {
    expect(await hasher.verifyDummy('anything')).toBe(false);
    expect(await hasher.verifyDummy('')).toBe(false);
  });

  // Retried: with both cores saturated by other processes a nice-19 thread can starve for whole samples.
  // A dummy that skipped the hash is ~0 ms and fails every attempt.
  it('security: an unknown-email login (verifyDummy) costs about what a wrong password costs', {
    retry: 2,
  }, async () => {
    const costly = createPasswordHasher({ memory_kib: 8192, iterations: 2, parallelism: 1 });
    const stored = await costly.hash('the real password');
    await costly.verifyDummy('warm-up'); // the dummy hash is made in the background at creation
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 7; i++) {
      let start = performance.now();
      await costly.verify(stored, `wrong ${i}`);
      real.push(performance.now() - start);
      start = performance.now();
      await costly.verifyDummy(`wrong ${i}`);
      dummy.push(performance.now() - start);
    }
    // Loose bounds on the fastest of each: the hash threads run at low priority, so on a loaded machine
    // any one sample can wait for a core; the fastest is the hash's own cost. An early return is ~0 ms.
    const [fastestReal, fastestDummy] = [Math.min(...real), Math.min(...dummy)];
    expect(fastestDummy).toBeGreaterThan(fastestReal * 0.5);
    expect(fastestDummy).toBeLessThan(fastestReal * 2);
  });

  it('keeps the event loop responsive while 8 hashes run', async () => {
    const busy = createPasswordHasher({ memory_kib: 19456, iterations: 2, parallelism: 1 });
    await busy.hash('warm-up'); // the threads start before anything is timed

    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    const started = performance.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => busy.hash(`burst ${i}`)));
    const burstMs = performance.now() - started;
    running = false;

    // Hashing on the event loop would block it for the whole burst: a timer or two at most. Off the
    // loop, a 1 ms timer fires all along. Judged within the burst itself (how often the loop got to run
    // while it lasted), not against a hash timed at another moment: other test files share the cores,
    // and one stall of the loop by them is not hashing on it (a bound of 4 hashes timed alone failed
    // once that way, a 51 ms gap in a full parallel run).
    expect(ticks).toBeGreaterThan(3);
    expect(ticks).toBeGreaterThan(burstMs / 10);
  });
});

/** Field 19 (nice) and 14 + 15 (utime + stime, in clock ticks) of /proc/self/task/<tid>/stat. */
function threadStat(tid: number): { nice: number; ticks: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3
  return { nice: Number(fields[16]), ticks: Number(fields[11]) + Number(fields[12]) };
}

describe('hashing threads', () => {
  const DEFAULTS = { memory_kib: 19456, iterations: 2, parallelism: 1 };
  const pools: Array<{ close(): Promise<void> }> = [];
  const make = (params: typeof DEFAULTS) => {
    const made = createPasswordHasher(params);
    pools.push(made);
    return made;
  };
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('hashes and verifies on threads of their own, never on the main thread', async () => {
    const threaded = make(CHEAP);
    const stored = await threaded.hash('through the pool');
    expect(await threaded.verify(stored, 'through the pool')).toBe(true);
    expect(await threaded.verify(stored, 'through the poo1')).toBe(false);
    const threads = threaded.threads();
    expect(threads.length).toBeGreaterThan(0);
    if (process.platform === 'linux') {
      for (const { tid } of threads) expect(tid).not.toBe(process.pid);
    }
  });

  it.runIf(process.platform === 'linux')(
    'the hashing threads run at nice 19, the main thread keeps its priority, and the hashing CPU is spent on them',
    async () => {
      const mainNice = getPriority();
      const low = make(DEFAULTS);
      await Promise.all([low.hash('warm 1'), low.hash('warm 2')]); // both threads started
      const tids = low.threads().map((t) => t.tid!);
      expect(tids.length).toBeGreaterThanOrEqual(1);
      for (const tid of tids) expect(threadStat(tid).nice).toBe(19);
      expect(threadStat(process.pid).nice).toBe(mainNice);
      expect(getPriority()).toBe(mainNice);

      // The work itself is done there, not on libuv's thread pool or the event loop: most of the CPU
      // time the process spends on 12 hashes is counted on these threads.
      const before = tids.reduce((sum, tid) => sum + threadStat(tid).ticks, 0);
      const cpu0 = process.cpuUsage();
      await Promise.all(Array.from({ length: 12 }, (_, i) => low.hash(`measured ${i}`)));
      const cpu = process.cpuUsage(cpu0);
      const onThreads = tids.reduce((sum, tid) => sum + threadStat(tid).ticks, 0) - before;
      const processTicks = ((cpu.user + cpu.system) / 1e6) * 100; // USER_HZ is 100 on Linux
      expect(onThreads).toBeGreaterThan(processTicks * 0.6);
    },
  );

  it('a thread that dies mid-hash rejects that hash with a clear error; later hashes get a fresh thread', async () => {
    const slow = make({ memory_kib: 65536, iterations: 4, parallelism: 1 });
    await slow.hash('start the threads');
    const running = slow.hash('cut short');
    const settled = running.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 20)); // inside hashSync by now
    await Promise.all(slow.threads().map((t) => t.terminate()));
    expect(await settled).toMatch(/password hashing thread stopped/);

    const stored = await slow.hash('after the crash');
    expect(await slow.verify(stored, 'after the crash')).toBe(true);
    expect(slow.threads().length).toBeGreaterThan(0);
  });

  it('security: a verify cut short by a dying thread rejects; it never reads as a wrong password', async () => {
    const slow = make({ memory_kib: 65536, iterations: 4, parallelism: 1 });
    const stored = await slow.hash('the password');
    const outcome = slow.verify(stored, 'the password').then(
      (ok) => `answered ${ok}`,
      (err: Error) => err.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    await Promise.all(slow.threads().map((t) => t.terminate()));
    // A login flow counts `false` as a failed attempt toward the lock; a rejection is a 500 instead.
    expect(await outcome).toMatch(/password hashing thread stopped/);
  });

  it('hashes queued behind a dying thread still complete on fresh threads', async () => {
    const queued = make(DEFAULTS);
    await Promise.all([queued.hash('start 1'), queued.hash('start 2')]); // every thread ready
    const burst = Array.from({ length: 6 }, (_, i) =>
      queued.hash(`queued ${i}`).then(
        () => 'ok',
        (err: Error) => err.message,
      ),
    );
    const dying = queued.threads();
    await Promise.all(dying.map((t) => t.terminate()));
    const outcomes = await Promise.all(burst);
    // Only the hashes running when their thread died fail, at most one per thread; the rest wait
    // and then run on new threads.
    const failed = outcomes.filter((o) => o !== 'ok');
    expect(failed.length).toBeLessThanOrEqual(dying.length);
    for (const message of failed) expect(message).toMatch(/password hashing thread stopped/);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThanOrEqual(6 - dying.length);
  });

  it('a thread starts its next hash while the event loop is busy: queued logins never wait on the loop', async () => {
    // Small hashes (a few ms), so that even at nice 19 on a machine busy with other test files each
    // thread gets the CPU for two of them during the block.
    const piped = make({ memory_kib: 4096, iterations: 1, parallelism: 1 });
    await Promise.all([piped.hash('start 1'), piped.hash('start 2')]); // every thread ready
    const threads = piped.threads().length;
    const done: number[] = [];
    const burst = Array.from({ length: threads * 2 }, (_, i) =>
      piped.hash(`queued ${i}`).then(() => done.push(i)),
    );
    // The loop is blocked far longer than two hashes take: each thread must run its second hash meanwhile,
    // with no chance for the main thread to hand it over.
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      // busy
    }
    // Two turns of the loop: enough to read replies already waiting, far too short for another hash.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(done.length).toBe(threads * 2);
    await Promise.all(burst);
  });

  it('an idle thread stops after idleMs (its memory comes back); the next hash starts a fresh one', async () => {
    const brief = createPasswordHasher(CHEAP, { idleMs: 50 });
    pools.push(brief);
    await brief.hash('wakes one thread');
    expect(brief.threads()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(brief.threads()).toEqual([]);
    const stored = await brief.hash('again');
    expect(await brief.verify(stored, 'again')).toBe(true);
  });

  it('close rejects what is waiting or running, and every later hash, as 503 shutting_down', async () => {
    const closing = createPasswordHasher(DEFAULTS);
    const pending = Array.from({ length: 4 }, (_, i) => closing.hash(`pending ${i}`).catch((e: Error) => e));
    await closing.close();
    const closed = { code: 'shutting_down', status: 503, cause: { message: 'password hasher is closed' } };
    for (const outcome of await Promise.all(pending)) {
      expect(outcome).toBeInstanceOf(GatewayError);
      expect(outcome).toMatchObject(closed);
    }
    await expect(closing.hash('late')).rejects.toMatchObject(closed);
    await expect(
      closing.verify('$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA', 'late'),
    ).rejects.toMatchObject(closed);
    expect(closing.threads()).toEqual([]);
  });

  it('threads (passwords.hashing_threads) bounds the hashes computed at once, each holding memory_kib', async () => {
    const one = createPasswordHasher(DEFAULTS, { threads: 1 });
    pools.push(one);
    const hashes = Array.from({ length: 4 }, (_, i) => one.hash(`one at a time ${i}`));
    expect(one.threads()).toHaveLength(1);
    await Promise.all(hashes);
    expect(one.threads()).toHaveLength(1);
  });

  /** Hashes without a client that take every thread and its next slot: whatever comes next waits. */
  const occupy = (pool: ReturnType<typeof make>): Promise<string>[] =>
    Array.from({ length: availableParallelism() * 2 }, (_, i) => pool.hash(`occupying ${i}`));
  const overloaded = (why: string) => ({ code: 'overloaded', status: 503, cause: { message: why } });

  it("security: a login's or registration's hash is dropped unstarted once its client has left (a flood of abandoned logins computed every hash)", async () => {
    const pool = make(DEFAULTS);
    let left = false;
    const leaving = { gone: () => left };
    const busy = occupy(pool);
    const dropped = [pool.hash('abandoned', leaving), pool.verify(FIXTURES.argon2i, 'abandoned', leaving)];
    left = true;
    for (const outcome of await Promise.all(dropped.map((p) => p.catch((e: unknown) => e)))) {
      expect(outcome).toBeInstanceOf(GatewayError);
      expect(outcome).toMatchObject(overloaded('the client left before its hash started'));
    }
    await Promise.all(busy);
  });

  it('a hash whose client still waits is refused 503 overloaded once it waited maxQueueWaitMs; one without a client waits as long as it takes', async () => {
    const pool = createPasswordHasher(DEFAULTS, { maxQueueWaitMs: 1 });
    pools.push(pool);
    const busy = occupy(pool);
    const waiting = { gone: () => false };
    const refused = [pool.hash('too late', waiting), pool.verifyDummy('too late', waiting)];
    const patient = pool.hash('no client');
    for (const outcome of await Promise.all(refused.map((p) => p.catch((e: unknown) => e)))) {
      expect(outcome).toMatchObject(overloaded('the hash waited over 1 ms for a thread'));
    }
    expect(await pool.verify(await patient, 'no client')).toBe(true);
    await Promise.all(busy);
  });

  // --input-type=module also checks that the threads' eval'd program does not depend on the parent's
  // module flags (eval'd code inherits them).
  it('from the built dist, a process waits for its hash, then exits with the threads idle and not closed', () => {
    const dist = fileURLToPath(new URL('../../../dist/gateway/auth/passwords.js', import.meta.url));
    const script = `
      import { createPasswordHasher } from ${JSON.stringify(dist)};
      const h = createPasswordHasher({ memory_kib: 19456, iterations: 2, parallelism: 1 });
      const stored = await h.hash('from dist');
      console.log(await h.verify(stored, 'from dist'), await h.verify(stored, 'wrong'), h.threads().length > 0);
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.signal).toBeNull(); // not killed by the timeout: idle threads do not keep it alive
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('true false true');
    expect(run.status).toBe(0);
  });
});
