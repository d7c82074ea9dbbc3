// The user-store suite (issue 8): the same gateway (memory state, one worker) on a SQLite and on a
// PostgreSQL user store, compared on logins and on GET /api/users/me with the profile cache defeated.
// It does not time the proxied path (throughput suite) nor Argon2 itself (logins suite).
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { BENCH_UA, benchPassword, inPool, login, provisionUsers, register } from '../accounts.mjs';
import { assertionKeyFile, FAST_ARGON2, startGateway } from '../contenders/portcullis.mjs';
import { runLoad } from '../load.mjs';
import { createDatabase, postgresUnavailable } from '../postgres.mjs';
import { addCleanup } from '../processes.mjs';
import { median, roundOrder } from '../stats.mjs';
import { LOGIN_ARGON2, latencySummary, loginLoops } from './logins.mjs';

/**
 * The smallest auth.profile_cache_ttl the config accepts (config/schema.ts: `duration(0)`). A cached
 * profile is served while its expiry is later than now, so a 0 ms entry never is: every GET
 * /api/users/me reads the user store. checkCacheDefeated() proves it on the running gateway.
 */
export const PROFILE_CACHE_TTL = '0ms';

export const STORES = ['sqlite', 'postgres'];
const PROFILE_PATH = '/api/users/me';

/** The two user stores: a SQLite file and a fresh PostgreSQL database (dropped at the end). */
async function createStores(ctx) {
  const file = join(ctx.tmpDir, 'stores-users.db');
  const db = await createDatabase(`portcullis_bench_${process.pid}_stores`);
  addCleanup(db.drop);
  // The gateway's own better-sqlite3, from the repository's node_modules.
  const Database = createRequire(join(ctx.root, 'package.json'))('better-sqlite3');
  const sqliteRun = (sql) => {
    const conn = new Database(file);
    try {
      conn.pragma('busy_timeout = 2000');
      conn.exec(sql);
    } finally {
      conn.close();
    }
  };
  return {
    sqlite: { users: `sqlite:${file}`, run: async (sql) => sqliteRun(sql) },
    postgres: { users: db.url, run: db.run },
  };
}

/** One gateway per store, identical but for storage.users; resolves to { sqlite: gw, postgres: gw }. */
async function startPair(ctx, phase, stores, keyFile, argon2) {
  const entries = await Promise.all(
    STORES.map(async (store) => {
      const gw = await startGateway(ctx, {
        name: `stores-${store}-${phase}`,
        auth: 'required',
        overrides: {
          storage: { users: stores[store].users, state: 'memory' },
          // Both get the shared key PostgreSQL requires, so that the configs differ in the store only.
          identity_headers: { assertion_key_file: keyFile },
          auth: { profile_cache_ttl: PROFILE_CACHE_TTL },
          passwords: { argon2 },
        },
      });
      return [store, gw];
    }),
  );
  return Object.fromEntries(entries);
}

const stopPair = (pair) => Promise.all(Object.values(pair).map((gw) => gw.proc.stop()));

async function getProfile(origin, token) {
  const res = await fetch(`${origin}${PROFILE_PATH}`, {
    headers: { authorization: `Bearer ${token}`, 'user-agent': BENCH_UA },
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${PROFILE_PATH}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text).data;
}

/**
 * Fails the run unless the gateway reads the store on every GET /api/users/me: the profile is read
 * (and would be cached), the row is changed behind the gateway's back, and the next read must see it.
 */
async function checkCacheDefeated(store, gw, user, run) {
  const before = await getProfile(gw.origin, user.access);
  const marker = `Uncached${Date.now()}`;
  if (!/^[\w-]+$/.test(user.id)) throw new Error(`unexpected user id ${user.id}`);
  await run(`UPDATE users SET first_name = '${marker}' WHERE id = '${user.id}'`);
  const after = await getProfile(gw.origin, user.access);
  if (before.first_name === marker || after.first_name !== marker) {
    throw new Error(
      `stores ${store}: ${PROFILE_PATH} answered a cached profile (first_name ${after.first_name}, expected ${marker}): ` +
        `auth.profile_cache_ttl ${PROFILE_CACHE_TTL} does not defeat the cache`,
    );
  }
}

/** Per-round PostgreSQL ÷ SQLite of `pick(round)`: { median, range }. */
function pairedRatio(rounds, pick) {
  const xs = rounds.sqlite.map((r, i) => pick(rounds.postgres[i]) / pick(r)).filter(Number.isFinite);
  return { median: median(xs), range: xs.length ? [Math.min(...xs), Math.max(...xs)] : null };
}

const medianOf = (rounds, pick) => median(rounds.map(pick));

async function loginPhase(ctx, opts, stores, keyFile, concurrency) {
  const pair = await startPair(ctx, 'login', stores, keyFile, LOGIN_ARGON2);
  const count = opts.storeLoginUsers;
  const password = benchPassword();
  const rounds = { sqlite: [], postgres: [] };
  try {
    const users = {};
    for (const store of STORES) {
      const { origin } = pair[store];
      users[store] = await inPool(count, concurrency, async (i) => {
        const email = `login${i}.stores-${store}@bench.example`;
        await register(origin, email, password, i);
        // Untimed warm-up: the pool's connections, the statements, the pages of both stores.
        await login(origin, email, password);
        return { email, password };
      });
    }
    for (let round = 0; round < opts.storeRounds; round++) {
      for (const store of roundOrder(STORES, round)) {
        const deadline = performance.now() + opts.storeLoginS * 1000;
        const r = await loginLoops(
          pair[store].origin,
          users[store],
          concurrency,
          () => performance.now() >= deadline,
        );
        const latency = latencySummary(r.latencies);
        rounds[store].push({
          ok: r.ok,
          failed: r.failed,
          seconds: r.seconds,
          perS: r.ok / r.seconds,
          ...latency,
        });
        ctx.progress(
          `stores round ${round + 1}/${opts.storeRounds} logins ${store}: ${(r.ok / r.seconds).toFixed(1)}/s, p99 ${latency.p99Ms?.toFixed(1)} ms`,
        );
      }
    }
  } finally {
    await stopPair(pair);
  }
  return rounds;
}

async function profilePhase(ctx, opts, stores, keyFile) {
  const pair = await startPair(ctx, 'me', stores, keyFile, FAST_ARGON2.passwords.argon2);
  const rounds = { sqlite: [], postgres: [] };
  try {
    const headers = {};
    await Promise.all(
      STORES.map(async (store) => {
        const gw = pair[store];
        const tokenFile = join(gw.dir, 'tokens.txt');
        const users = await provisionUsers(gw.origin, {
          count: opts.users,
          tag: `stores-${store}`,
          tokenFile,
        });
        await checkCacheDefeated(store, gw, users[0], stores[store].run);
        headers[store] = { file: tokenFile, header: 'Authorization', prefix: 'Bearer ', userAgent: BENCH_UA };
      }),
    );
    ctx.progress(`stores: ${opts.users} users per store; every ${PROFILE_PATH} reads the store (checked)`);
    const load = (store, durationS) =>
      runLoad({
        loader: opts.loader,
        url: `${pair[store].origin}${PROFILE_PATH}`,
        connections: opts.connections,
        threads: opts.threads,
        durationS,
        headers: headers[store],
        tmpDir: ctx.tmpDir,
      });
    for (const store of STORES) await load(store, opts.warmupS);
    for (let round = 0; round < opts.storeRounds; round++) {
      for (const store of roundOrder(STORES, round)) {
        const r = await load(store, opts.storeProfileS);
        rounds[store].push(r);
        ctx.progress(
          `stores round ${round + 1}/${opts.storeRounds} ${PROFILE_PATH} ${store}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms, ${r.errorCount} errors`,
        );
      }
    }
  } finally {
    await stopPair(pair);
  }
  return rounds;
}

/** Runs the suite; returns its figures (README.md, "Stores"), or { unavailable } without PostgreSQL. */
export async function runStores(ctx, opts) {
  const unavailable = await postgresUnavailable();
  if (unavailable) {
    ctx.progress(`stores: skipped, ${unavailable}`);
    return { unavailable };
  }
  const concurrency = availableParallelism();
  const stores = await createStores(ctx);
  const keyFile = await assertionKeyFile(ctx, 'stores');
  ctx.progress(
    `stores: logins at Argon2id m=${LOGIN_ARGON2.memory_kib} t=${LOGIN_ARGON2.iterations} p=${LOGIN_ARGON2.parallelism}, ${concurrency} in flight`,
  );
  const logins = await loginPhase(ctx, opts, stores, keyFile, concurrency);
  const profile = await profilePhase(ctx, opts, stores, keyFile);

  const summary = (store) => ({
    users: stores[store].users,
    logins: {
      perS: medianOf(logins[store], (r) => r.perS),
      p50Ms: medianOf(logins[store], (r) => r.p50Ms),
      p99Ms: medianOf(logins[store], (r) => r.p99Ms),
      failed: logins[store].reduce((n, r) => n + r.failed, 0),
      rounds: logins[store],
    },
    profile: {
      rps: medianOf(profile[store], (r) => r.rps),
      p50Ms: medianOf(profile[store], (r) => r.p50Ms),
      p99Ms: medianOf(profile[store], (r) => r.p99Ms),
      errors: profile[store].reduce((n, r) => n + r.errorCount, 0),
      rounds: profile[store],
    },
  });
  return {
    profileCacheTtl: PROFILE_CACHE_TTL,
    state: 'memory',
    workers: 1,
    rounds: opts.storeRounds,
    logins: {
      argon2: LOGIN_ARGON2,
      concurrency,
      seconds: opts.storeLoginS,
      users: opts.storeLoginUsers,
    },
    profile: {
      path: PROFILE_PATH,
      connections: opts.connections,
      seconds: opts.storeProfileS,
      users: opts.users,
      loader: opts.loader,
    },
    stores: Object.fromEntries(STORES.map((s) => [s, summary(s)])),
    // PostgreSQL ÷ SQLite, medians of per-round ratios (rounds alternate which store goes first).
    ratios: {
      loginsPerS: pairedRatio(logins, (r) => r.perS),
      loginP50Ms: pairedRatio(logins, (r) => r.p50Ms),
      loginP99Ms: pairedRatio(logins, (r) => r.p99Ms),
      profileRps: pairedRatio(profile, (r) => r.rps),
      profileP50Ms: pairedRatio(profile, (r) => r.p50Ms),
      profileP99Ms: pairedRatio(profile, (r) => r.p99Ms),
    },
  };
}
