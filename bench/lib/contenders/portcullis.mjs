// Portcullis itself as a contender, started from the built dist/ with a YAML config generated into
// the run's temp folder. Variants (auth, Redis, workers) are the same factory with config overrides.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectUpstreamBody } from '../check.mjs';
import { freePort, waitForPort } from '../processes.mjs';
import { toYaml } from '../yaml.mjs';

const secret = (chars) => randomBytes(chars).toString('base64url').slice(0, chars);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function merge(base, overrides) {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides))
    out[k] = isObject(v) && isObject(base[k]) ? merge(base[k], v) : v;
  return out;
}

/** The gateway config every Portcullis contender starts from: one route `/` to the bench's upstream. */
export function baseGatewayConfig({ dir, port, adminPort, upstream }) {
  return {
    server: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort, token: secret(40) },
    tokens: { secret: secret(40) },
    storage: { users: `sqlite:${join(dir, 'bench.db')}`, state: 'memory' },
    // The global limits apply to every request; lifted so that they count but never answer 429.
    rate_limits: { global: { anonymous: '1000000000/s', authenticated: '1000000000/s' } },
    logging: { level: 'warn' },
    routes: [{ name: 'public', path: '/', upstream, auth: 'public' }],
  };
}

/**
 * A Portcullis contender. `overrides` is deep-merged into the base config (arrays replace), e.g.
 * { storage: { state: 'redis://…' }, server: { workers: 2 } }.
 */
export function createPortcullisContender({ name, label, overrides = {} }) {
  return {
    name,
    label,
    kind: 'proxy',
    unavailable: () => null,
    async start(ctx) {
      const cli = join(ctx.root, 'dist/gateway/cli.js');
      // Not a reason to skip: a bench run without the gateway would judge nothing.
      if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`node build.mjs\` (npm run bench does)`);
      const dir = join(ctx.tmpDir, name);
      mkdirSync(dir, { recursive: true });
      const [port, adminPort] = [await freePort(), await freePort()];
      const config = merge(
        baseGatewayConfig({ dir, port, adminPort, upstream: ctx.target.origin }),
        overrides,
      );
      const file = join(dir, 'gateway.yaml');
      writeFileSync(file, toYaml(config), { mode: 0o600 });
      const proc = ctx.spawnNode(name, cli, ['start', '--config', file], { cwd: dir });
      await waitForPort(port, proc, 30_000);
      return { url: `http://127.0.0.1:${port}/`, pid: proc.pid, configFile: file };
    },
    check: (instance) => expectUpstreamBody(instance.url),
  };
}
