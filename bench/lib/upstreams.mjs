// Starts the upstreams every contender points at: the node:http one always, the nginx one when
// nginx is installed and wanted. It does not decide which contenders run.
import { fileURLToPath } from 'node:url';
import { nginxPath, startNginxUpstream } from './nginx.mjs';
import { freePort, waitForPort } from './processes.mjs';

const UPSTREAM_SCRIPT = fileURLToPath(new URL('./upstream-server.mjs', import.meta.url));

/** { name, origin, pid } of a running upstream. */
async function startNodeUpstream(ctx) {
  const port = await freePort();
  const proc = ctx.spawnNode('upstream-node', UPSTREAM_SCRIPT, [String(port)]);
  await waitForPort(port, proc);
  return { name: 'node', origin: `http://127.0.0.1:${port}`, pid: proc.pid };
}

async function startNginxOrigin(ctx) {
  const port = await freePort();
  const proc = await startNginxUpstream(port, ctx);
  return { name: 'nginx', origin: `http://127.0.0.1:${port}`, pid: proc.pid };
}

/**
 * Starts the upstreams named in `names` ('node', 'nginx'); returns a map name → upstream.
 * nginx is skipped (with a note on stderr) when it is not installed.
 */
export async function startUpstreams(names, ctx) {
  const upstreams = new Map();
  for (const name of names) {
    if (name === 'node') upstreams.set(name, await startNodeUpstream(ctx));
    else if (name === 'nginx' && nginxPath()) upstreams.set(name, await startNginxOrigin(ctx));
    else if (name === 'nginx') process.stderr.write('bench: nginx not on PATH, no nginx upstream\n');
    else throw new Error(`unknown upstream "${name}"`);
  }
  return upstreams;
}
