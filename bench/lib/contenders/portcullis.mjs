// Portcullis itself as a contender, started from the built dist/ with a YAML config generated into
// the run's temp folder. Variants (auth, Redis, workers) are the same factory with config overrides.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_UA, benchPassword, login, logout, provisionUsers, register } from '../accounts.mjs';
import { expectAcceptedToken, expectAuthChecks, expectUpstreamBody, spread } from '../check.mjs';
import { createDatabase, postgresUnavailable } from '../postgres.mjs';
import { addCleanup, freePort, runToCompletion, waitForPort } from '../processes.mjs';
import { toYaml } from '../yaml.mjs';
import { ContenderUnavailable } from './unavailable.mjs';

const secret = (chars) => randomBytes(chars).toString('base64url').slice(0, chars);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const UNLIMITED = '1000000000/s';

function merge(base, overrides) {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides))
    out[k] = isObject(v) && isObject(base[k]) ? merge(base[k], v) : v;
  return out;
}

/** The gateway config every Portcullis contender starts from: one route `/` to the bench's upstream. */
export function baseGatewayConfig({ dir, port, adminPort, upstream, auth = 'public' }) {
  return {
    server: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, token: secret(40) },
    // Tokens outlive the whole run: the contenders log their users in once, at start.
    tokens: { secret: secret(40), access_ttl: '3h' },
    storage: { users: `sqlite:${join(dir, 'bench.db')}`, state: 'memory' },
    // The limits apply to every request; lifted so that they count but never answer 429. The bench
    // logs in a thousand users from one IP at start.
    rate_limits: {
      global: { anonymous: UNLIMITED, authenticated: UNLIMITED },
      login: { per_email: UNLIMITED, per_ip: UNLIMITED },
      register: { per_email: UNLIMITED, per_ip: UNLIMITED },
    },
    logging: { level: 'warn' },
    routes: [{ name: auth === 'public' ? 'public' : 'api', path: '/', upstream, auth }],
  };
}

/**
 * Starts the gateway from dist/ with the base config plus `overrides` (deep-merged, arrays replace);
 * resolves once it listens to { url, origin, pid, proc, dir, configFile } (`proc.stop()` stops it). A start failure is thrown with
 * the process attached (`err.proc`) so callers can read why from its log.
 */
export async function startGateway(
  ctx,
  { name, auth = 'public', upstream = ctx.target.origin, overrides = {} },
) {
  const cli = join(ctx.root, 'dist/gateway/cli.js');
  // Not a reason to skip: a bench run without the gateway would judge nothing.
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`node build.mjs\` (npm run bench does)`);
  const dir = join(ctx.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = merge(baseGatewayConfig({ dir, port, adminPort, upstream, auth }), overrides);
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, toYaml(config), { mode: 0o600 });
  const proc = ctx.spawnNode(name, cli, ['start', '--config', configFile], {
    cwd: dir,
    nodeFlags: ctx.opts.gatewayNodeFlags,
  });
  try {
    await waitForPort(port, proc, ctx.startTimeoutMs ?? 30_000);
  } catch (err) {
    err.proc = proc;
    throw err;
  }
  const origin = `http://127.0.0.1:${port}`;
  return { url: `${origin}/`, origin, pid: proc.pid, proc, dir, configFile };
}

/**
 * Writes a fresh EdDSA assertion key with the gateway's own `keygen` and returns its file: a
 * PostgreSQL user store requires `identity_headers.assertion_key_file` (replicas share one key).
 */
export async function assertionKeyFile(ctx, name) {
  const keyFile = join(ctx.tmpDir, `${name}-assertion.pem`);
  const cli = join(ctx.root, 'dist/gateway/cli.js');
  await runToCompletion('keygen', process.execPath, [
    cli,
    'keygen',
    '--algorithm',
    'EdDSA',
    '--out',
    keyFile,
  ]);
  return keyFile;
}

/**
 * Cheap Argon2 for contenders timed on the proxied path only: creating their thousand users would
 * otherwise take a minute per contender. The login suite runs a gateway with the default parameters.
 */
export const FAST_ARGON2 = { passwords: { argon2: { memory_kib: 256, iterations: 1, parallelism: 1 } } };

const dbName = (id) => `portcullis_bench_${process.pid}_${id.replaceAll('-', '_')}`;

/** The first log line about the key storage.users itself: how the gateway says it cannot open that store. */
function userStoreComplaint(proc) {
  const line = proc
    .logTail(40)
    .split('\n')
    .find((l) => l.includes('storage.users:'));
  return line?.trim().slice(0, 300) ?? null;
}

/**
 * A Portcullis contender. `overrides` (an object, or a function of ctx returning one) is deep-merged
 * into the base config (arrays replace), e.g. { storage: { state: ctx.redis.url }, server: { workers: 2 } }.
 * `auth: true` puts the route behind `auth: required`; prepare() then registers and logs in
 * `ctx.opts.users` users whose tokens wrk cycles through. `needs` lists 'redis' and 'postgres' (a fresh database, dropped at the end,
 * becomes storage.users).
 */
export function createPortcullisContender({ name, label, overrides = {}, auth = false, needs = [] }) {
  return {
    name,
    label,
    kind: 'proxy',
    async unavailable(ctx) {
      if (needs.includes('redis') && !ctx.redis) return ctx.redisUnavailable ?? 'no Redis';
      if (needs.includes('postgres')) return postgresUnavailable();
      return null;
    },
    async start(ctx) {
      // `ctx.variant` tells a second instance of this contender (--compare-build) apart: own folder, database, key.
      const id = `${name}${ctx.variant ?? ''}`;
      let extra = typeof overrides === 'function' ? overrides(ctx) : overrides;
      if (auth) extra = merge(extra, FAST_ARGON2);
      if (needs.includes('postgres')) {
        const db = await createDatabase(dbName(id));
        addCleanup(db.drop);
        // Replicas must share one assertion key when users live in PostgreSQL (the config check says so).
        extra = merge(extra, {
          storage: { users: db.url },
          identity_headers: { assertion_key_file: await assertionKeyFile(ctx, id) },
        });
      }
      let instance;
      try {
        instance = await startGateway(ctx, {
          name: id,
          auth: auth ? 'required' : 'public',
          overrides: extra,
        });
      } catch (err) {
        const complaint =
          needs.includes('postgres') && err.proc?.exitCode != null ? userStoreComplaint(err.proc) : null;
        if (complaint)
          throw new ContenderUnavailable(`the gateway cannot open its PostgreSQL user store: ${complaint}`);
        throw err;
      }
      return instance;
    },
    async prepare(instance, ctx) {
      if (!auth) return;
      const tokenFile = join(instance.dir, 'tokens.txt');
      const t0 = Date.now();
      instance.users = await provisionUsers(instance.origin, { count: ctx.opts.users, tag: name, tokenFile });
      ctx.progress(
        `${name}: ${instance.users.length} users registered and logged in (${Date.now() - t0} ms)`,
      );
      instance.headers = {
        file: tokenFile,
        header: 'Authorization',
        prefix: 'Bearer ',
        userAgent: BENCH_UA,
      };
    },
    async check(instance) {
      if (!auth) return expectUpstreamBody(instance.url, { headers: { 'user-agent': BENCH_UA } });
      const [user] = instance.users;
      const newUser = async (what) => {
        const email = `check.${what}.${name}@bench.example`;
        const password = benchPassword();
        await register(instance.origin, email, password);
        const { access } = await login(instance.origin, email, password);
        await expectAcceptedToken(instance.origin, access);
        return { email, password, access };
      };
      await expectAuthChecks(instance.origin, {
        valid: { token: user.access, userId: user.id },
        sample: spread(instance.users).map((u) => ({ token: u.access, userId: u.id })),
        async revoke() {
          const { access } = await newUser('revoked');
          await logout(instance.origin, access);
          return access;
        },
        async replace() {
          const { email, password, access } = await newUser('replaced');
          await login(instance.origin, email, password);
          return access;
        },
      });
    },
  };
}
